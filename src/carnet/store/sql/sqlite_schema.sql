-- The metadata schema of a new carnet workspace on SQLite, at revision 0011.
-- Generated from carnet.store.sql.tables; do not edit: after a schema change, regenerate it with
--     python -m carnet.store.sql.sqlite_schema --write
-- carnet.bootstrap.init_workspace runs these statements (each ends with ';' at the end of a line)
-- in one BEGIN IMMEDIATE transaction on a new database file.

CREATE TABLE audit_events (
    seq INTEGER NOT NULL,
    time FLOAT NOT NULL,
    actor VARCHAR(256) NOT NULL,
    action VARCHAR(64) NOT NULL,
    subject_type VARCHAR(64) NOT NULL,
    subject_id VARCHAR(256) NOT NULL,
    payload TEXT NOT NULL,
    payload_digest VARCHAR(64) NOT NULL,
    prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL,
    CONSTRAINT pk_audit_events PRIMARY KEY (seq)
);

CREATE INDEX ix_audit_events_subject_type_subject_id ON audit_events (subject_type, subject_id);

CREATE TABLE audit_head (
    id INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    hash VARCHAR(64) NOT NULL,
    keyed BOOLEAN,
    key_check VARCHAR(64),
    workspace_id VARCHAR(32),
    CONSTRAINT pk_audit_head PRIMARY KEY (id)
);

CREATE TABLE chunk_manifests (
    digest VARCHAR(80) NOT NULL,
    size BIGINT NOT NULL,
    chunks INTEGER NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_chunk_manifests PRIMARY KEY (digest)
);

CREATE TABLE chunks (
    id VARCHAR(64) NOT NULL,
    pack VARCHAR(64) NOT NULL,
    "offset" BIGINT NOT NULL,
    length INTEGER NOT NULL,
    CONSTRAINT pk_chunks PRIMARY KEY (id)
);

CREATE INDEX ix_chunks_pack ON chunks (pack);

CREATE TABLE deployments (
    id INTEGER NOT NULL,
    endpoint VARCHAR(128) NOT NULL,
    revision INTEGER NOT NULL,
    spec TEXT NOT NULL,
    deleted BOOLEAN NOT NULL,
    actor VARCHAR(256) NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_deployments PRIMARY KEY (id),
    CONSTRAINT uq_deployments_endpoint_revision UNIQUE (endpoint, revision)
);

CREATE TABLE label_files (
    id INTEGER NOT NULL,
    digest VARCHAR(80) NOT NULL,
    rows BIGINT NOT NULL,
    model VARCHAR(128),
    source TEXT NOT NULL,
    actor VARCHAR(256) NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_label_files PRIMARY KEY (id)
);

CREATE TABLE manifest_packs (
    manifest VARCHAR(80) NOT NULL,
    pack VARCHAR(64) NOT NULL,
    bytes BIGINT NOT NULL,
    CONSTRAINT pk_manifest_packs PRIMARY KEY (manifest, pack)
);

CREATE INDEX ix_manifest_packs_pack ON manifest_packs (pack);

CREATE TABLE monitors (
    id INTEGER NOT NULL,
    name VARCHAR(128) NOT NULL,
    model VARCHAR(128) NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    deleted BOOLEAN NOT NULL,
    actor VARCHAR(256) NOT NULL,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    CONSTRAINT pk_monitors PRIMARY KEY (id),
    CONSTRAINT uq_monitors_name UNIQUE (name)
);

CREATE TABLE packs (
    digest VARCHAR(64) NOT NULL,
    size BIGINT NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_packs PRIMARY KEY (digest)
);

CREATE TABLE prediction_files (
    id INTEGER NOT NULL,
    endpoint VARCHAR(128) NOT NULL,
    model VARCHAR(128) NOT NULL,
    version INTEGER NOT NULL,
    shadow BOOLEAN NOT NULL,
    digest VARCHAR(80) NOT NULL,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    first_time FLOAT NOT NULL,
    last_time FLOAT NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_prediction_files PRIMARY KEY (id)
);

CREATE INDEX ix_prediction_files_endpoint_first_time ON prediction_files (endpoint, first_time);

CREATE INDEX ix_prediction_files_model_version_first_time ON prediction_files (model, version, first_time);

CREATE TABLE projects (
    id INTEGER NOT NULL,
    name VARCHAR(128) NOT NULL,
    description TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_projects PRIMARY KEY (id),
    CONSTRAINT uq_projects_name UNIQUE (name)
);

CREATE TABLE reference_profiles (
    dataset_digest VARCHAR(80) NOT NULL,
    options VARCHAR(80) NOT NULL,
    digest VARCHAR(80) NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_reference_profiles PRIMARY KEY (dataset_digest, options)
);

CREATE TABLE search_journal (
    study VARCHAR(128) NOT NULL,
    seq INTEGER NOT NULL,
    entry TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_search_journal PRIMARY KEY (study, seq)
);

CREATE TABLE users (
    id INTEGER NOT NULL,
    name VARCHAR(128) NOT NULL,
    disabled BOOLEAN NOT NULL,
    created_at FLOAT NOT NULL,
    actor VARCHAR(256) NOT NULL,
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT uq_users_name UNIQUE (name)
);

CREATE TABLE alerts (
    id INTEGER NOT NULL,
    monitor_id INTEGER NOT NULL,
    rule VARCHAR(512) NOT NULL,
    status VARCHAR(16) NOT NULL,
    value FLOAT,
    threshold FLOAT NOT NULL,
    window_seq INTEGER NOT NULL,
    opened_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    message TEXT NOT NULL,
    actions TEXT NOT NULL,
    history TEXT NOT NULL,
    CONSTRAINT pk_alerts PRIMARY KEY (id),
    CONSTRAINT fk_alerts_monitor_id_monitors FOREIGN KEY(monitor_id) REFERENCES monitors (id)
);

CREATE INDEX ix_alerts_monitor_id_status ON alerts (monitor_id, status);

CREATE TABLE api_tokens (
    id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    label VARCHAR(256) NOT NULL,
    prefix VARCHAR(16) NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    created_at FLOAT NOT NULL,
    revoked_at FLOAT,
    last_used_at FLOAT,
    CONSTRAINT pk_api_tokens PRIMARY KEY (id),
    CONSTRAINT fk_api_tokens_user_id_users FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE UNIQUE INDEX ix_api_tokens_token_hash ON api_tokens (token_hash);

CREATE INDEX ix_api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE datasets (
    id INTEGER NOT NULL,
    name VARCHAR(128) NOT NULL,
    project_id INTEGER NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_datasets PRIMARY KEY (id),
    CONSTRAINT uq_datasets_name UNIQUE (name),
    CONSTRAINT fk_datasets_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id)
);

CREATE TABLE monitor_windows (
    id INTEGER NOT NULL,
    monitor_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    start FLOAT NOT NULL,
    "end" FLOAT NOT NULL,
    rows BIGINT NOT NULL,
    versions VARCHAR(512) NOT NULL,
    metrics TEXT NOT NULL,
    report VARCHAR(80),
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_monitor_windows PRIMARY KEY (id),
    CONSTRAINT uq_monitor_windows_monitor_id_seq UNIQUE (monitor_id, seq),
    CONSTRAINT fk_monitor_windows_monitor_id_monitors FOREIGN KEY(monitor_id) REFERENCES monitors (id)
);

CREATE TABLE project_roles (
    user_id INTEGER NOT NULL,
    project VARCHAR(128) NOT NULL,
    role VARCHAR(16) NOT NULL,
    CONSTRAINT pk_project_roles PRIMARY KEY (user_id, project),
    CONSTRAINT fk_project_roles_user_id_users FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE TABLE registered_models (
    id INTEGER NOT NULL,
    name VARCHAR(128) NOT NULL,
    project_id INTEGER NOT NULL,
    description TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_registered_models PRIMARY KEY (id),
    CONSTRAINT uq_registered_models_name UNIQUE (name),
    CONSTRAINT fk_registered_models_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id)
);

CREATE TABLE runs (
    id VARCHAR(32) NOT NULL,
    project_id INTEGER NOT NULL,
    name VARCHAR(256) NOT NULL,
    status VARCHAR(16) NOT NULL,
    start_time FLOAT NOT NULL,
    end_time FLOAT,
    parent_id VARCHAR(32),
    error TEXT,
    deleted BOOLEAN NOT NULL,
    CONSTRAINT pk_runs PRIMARY KEY (id),
    CONSTRAINT fk_runs_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id),
    CONSTRAINT fk_runs_parent_id_runs FOREIGN KEY(parent_id) REFERENCES runs (id)
);

CREATE INDEX ix_runs_parent_id ON runs (parent_id);

CREATE INDEX ix_runs_project_id_start_time ON runs (project_id, start_time);

CREATE TABLE alias_history (
    id INTEGER NOT NULL,
    model_id INTEGER NOT NULL,
    alias VARCHAR(64) NOT NULL,
    version INTEGER,
    previous_version INTEGER,
    kind VARCHAR(16) NOT NULL,
    actor VARCHAR(256) NOT NULL,
    reason TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_alias_history PRIMARY KEY (id),
    CONSTRAINT fk_alias_history_model_id_registered_models FOREIGN KEY(model_id) REFERENCES registered_models (id)
);

CREATE INDEX ix_alias_history_model_id_alias_id ON alias_history (model_id, alias, id);

CREATE TABLE approvals (
    id INTEGER NOT NULL,
    model_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    alias VARCHAR(64) NOT NULL,
    actor VARCHAR(256) NOT NULL,
    comment TEXT NOT NULL,
    authenticated BOOLEAN NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_approvals PRIMARY KEY (id),
    CONSTRAINT uq_approvals_model_id_version_alias_actor UNIQUE (model_id, version, alias, actor),
    CONSTRAINT fk_approvals_model_id_registered_models FOREIGN KEY(model_id) REFERENCES registered_models (id)
);

CREATE TABLE artifacts (
    run_id VARCHAR(32) NOT NULL,
    path VARCHAR(1024) NOT NULL,
    digest VARCHAR(80) NOT NULL,
    size BIGINT NOT NULL,
    CONSTRAINT pk_artifacts PRIMARY KEY (run_id, path),
    CONSTRAINT fk_artifacts_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);

CREATE TABLE erasures (
    id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    where_digest VARCHAR(64) NOT NULL,
    columns TEXT NOT NULL,
    rows_removed BIGINT NOT NULL,
    actor VARCHAR(256) NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_erasures PRIMARY KEY (id),
    CONSTRAINT fk_erasures_dataset_id_datasets FOREIGN KEY(dataset_id) REFERENCES datasets (id)
);

CREATE INDEX ix_erasures_dataset_id ON erasures (dataset_id);

CREATE TABLE latest_metrics (
    run_id VARCHAR(32) NOT NULL,
    "key" VARCHAR(250) NOT NULL,
    value FLOAT,
    step BIGINT NOT NULL,
    timestamp FLOAT NOT NULL,
    CONSTRAINT pk_latest_metrics PRIMARY KEY (run_id, "key"),
    CONSTRAINT fk_latest_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);

CREATE INDEX ix_latest_metrics_key_value ON latest_metrics ("key", value);

CREATE TABLE metrics (
    id INTEGER NOT NULL,
    run_id VARCHAR(32) NOT NULL,
    "key" VARCHAR(250) NOT NULL,
    value FLOAT,
    step BIGINT NOT NULL,
    timestamp FLOAT NOT NULL,
    CONSTRAINT pk_metrics PRIMARY KEY (id),
    CONSTRAINT fk_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);

CREATE INDEX ix_metrics_run_id_key_step ON metrics (run_id, "key", step);

CREATE TABLE model_aliases (
    model_id INTEGER NOT NULL,
    alias VARCHAR(64) NOT NULL,
    version INTEGER NOT NULL,
    updated_at FLOAT NOT NULL,
    CONSTRAINT pk_model_aliases PRIMARY KEY (model_id, alias),
    CONSTRAINT fk_model_aliases_model_id_registered_models FOREIGN KEY(model_id) REFERENCES registered_models (id)
);

CREATE TABLE model_tags (
    model_id INTEGER NOT NULL,
    "key" VARCHAR(256) NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT pk_model_tags PRIMARY KEY (model_id, "key"),
    CONSTRAINT fk_model_tags_model_id_registered_models FOREIGN KEY(model_id) REFERENCES registered_models (id)
);

CREATE TABLE model_versions (
    id INTEGER NOT NULL,
    model_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    flavor VARCHAR(64) NOT NULL,
    artifact_digest VARCHAR(80) NOT NULL,
    file_name VARCHAR(256) NOT NULL,
    run_id VARCHAR(32),
    task VARCHAR(64),
    signature TEXT NOT NULL,
    input_example TEXT NOT NULL,
    metrics TEXT NOT NULL,
    datasets TEXT NOT NULL,
    reports TEXT NOT NULL,
    extra TEXT NOT NULL,
    derived_from INTEGER,
    allow_pickle BOOLEAN NOT NULL,
    description TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    created_by VARCHAR(256) NOT NULL,
    CONSTRAINT pk_model_versions PRIMARY KEY (id),
    CONSTRAINT uq_model_versions_model_id_version UNIQUE (model_id, version),
    CONSTRAINT fk_model_versions_model_id_registered_models FOREIGN KEY(model_id) REFERENCES registered_models (id),
    CONSTRAINT fk_model_versions_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

CREATE INDEX ix_model_versions_run_id ON model_versions (run_id);

CREATE TABLE params (
    run_id VARCHAR(32) NOT NULL,
    "key" VARCHAR(250) NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT pk_params PRIMARY KEY (run_id, "key"),
    CONSTRAINT fk_params_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);

CREATE TABLE policies (
    id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    model_id INTEGER,
    source TEXT NOT NULL,
    actor VARCHAR(256) NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_policies PRIMARY KEY (id),
    CONSTRAINT fk_policies_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id),
    CONSTRAINT fk_policies_model_id_registered_models FOREIGN KEY(model_id) REFERENCES registered_models (id)
);

CREATE INDEX ix_policies_project_id_model_id_id ON policies (project_id, model_id, id);

CREATE TABLE promotions (
    id INTEGER NOT NULL,
    model_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    alias VARCHAR(64) NOT NULL,
    previous_version INTEGER,
    passed BOOLEAN NOT NULL,
    applied BOOLEAN NOT NULL,
    kind VARCHAR(16) NOT NULL,
    results TEXT NOT NULL,
    policy TEXT NOT NULL,
    actor VARCHAR(256) NOT NULL,
    reason TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_promotions PRIMARY KEY (id),
    CONSTRAINT fk_promotions_model_id_registered_models FOREIGN KEY(model_id) REFERENCES registered_models (id)
);

CREATE INDEX ix_promotions_model_id_version ON promotions (model_id, version);

CREATE TABLE run_environments (
    run_id VARCHAR(32) NOT NULL,
    environment TEXT NOT NULL,
    CONSTRAINT pk_run_environments PRIMARY KEY (run_id),
    CONSTRAINT fk_run_environments_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);

CREATE TABLE tags (
    run_id VARCHAR(32) NOT NULL,
    "key" VARCHAR(250) NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT pk_tags PRIMARY KEY (run_id, "key"),
    CONSTRAINT fk_tags_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE
);

CREATE INDEX ix_tags_key ON tags ("key");

CREATE TABLE dataset_versions (
    id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    digest VARCHAR(80) NOT NULL,
    format VARCHAR(16) NOT NULL,
    size BIGINT NOT NULL,
    num_rows BIGINT NOT NULL,
    num_columns INTEGER NOT NULL,
    schema TEXT NOT NULL,
    profile TEXT NOT NULL,
    source TEXT NOT NULL,
    parent_id INTEGER,
    description TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    superseded_by INTEGER,
    erasure_id INTEGER,
    purged_at FLOAT,
    CONSTRAINT pk_dataset_versions PRIMARY KEY (id),
    CONSTRAINT uq_dataset_versions_dataset_id_version UNIQUE (dataset_id, version),
    CONSTRAINT fk_dataset_versions_dataset_id_datasets FOREIGN KEY(dataset_id) REFERENCES datasets (id),
    CONSTRAINT fk_dataset_versions_parent_id_dataset_versions FOREIGN KEY(parent_id) REFERENCES dataset_versions (id),
    CONSTRAINT fk_dataset_versions_superseded_by_dataset_versions FOREIGN KEY(superseded_by) REFERENCES dataset_versions (id),
    CONSTRAINT fk_dataset_versions_erasure_id_erasures FOREIGN KEY(erasure_id) REFERENCES erasures (id)
);

CREATE INDEX ix_dataset_versions_dataset_id_digest ON dataset_versions (dataset_id, digest);

CREATE INDEX ix_dataset_versions_parent_id ON dataset_versions (parent_id);

CREATE TABLE model_version_tags (
    version_id INTEGER NOT NULL,
    "key" VARCHAR(256) NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT pk_model_version_tags PRIMARY KEY (version_id, "key"),
    CONSTRAINT fk_model_version_tags_version_id_model_versions FOREIGN KEY(version_id) REFERENCES model_versions (id)
);

CREATE TABLE run_inputs (
    run_id VARCHAR(32) NOT NULL,
    dataset_version_id INTEGER NOT NULL,
    context VARCHAR(64) NOT NULL,
    CONSTRAINT pk_run_inputs PRIMARY KEY (run_id, dataset_version_id, context),
    CONSTRAINT fk_run_inputs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE CASCADE,
    CONSTRAINT fk_run_inputs_dataset_version_id_dataset_versions FOREIGN KEY(dataset_version_id) REFERENCES dataset_versions (id)
);

CREATE INDEX ix_run_inputs_dataset_version_id ON run_inputs (dataset_version_id);

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

INSERT INTO alembic_version (version_num) VALUES ('0011');
