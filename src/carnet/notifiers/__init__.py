"""Where alert events go: the built-in notifiers and the guard on their destinations.

``builtin`` holds the ``webhook``, ``slack`` and ``logfile`` notifiers (entry-point group
``carnet.notifiers``); ``destinations`` checks a URL or a log path against the server's policy
(no private addresses, no paths outside the allowed folders) and pins the checked address.
"""
