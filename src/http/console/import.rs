//! The console's CSV import: upload, preview, a background run with progress, and
//! the per-line report of bad rows.
//!
//! The work is [`Subscriptions::import_csv`], the same the CLI and the JSON API call;
//! the preview is [`preview_csv`], which reads the header the way the import will.
//! This file keeps the uploaded file in memory between the preview and the start
//! (at most [`MAX_UPLOAD`] bytes a file), runs the import on tokio's blocking pool
//! so that parsing a large file holds up no connection, and keeps the last
//! [`KEPT`] jobs in [`Imports`] for their progress and report pages.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::views::{console_page_refreshing, console_page_with};
use super::{Admin, CsrfForm, console_page, not_found, parts};
use crate::http::Shared;
use crate::subscriptions::{ImportReport, Preview, Subscriptions, preview_csv, spreadsheet_safe};

/// The largest file the console takes (50 MB, some 500,000 rows).
pub(crate) const MAX_UPLOAD: usize = 50 * 1024 * 1024;
/// How many jobs are kept, running or finished; the oldest finished one goes first.
pub(crate) const KEPT: usize = 20;
/// Uploaded files waiting for their "Start import" hold at most this much memory
/// together; past it the oldest waiting upload is dropped.
const WAITING_BYTES: usize = 2 * MAX_UPLOAD;
/// Rows shown in the preview.
const PREVIEW_ROWS: usize = 10;
/// Bad rows listed on the result page; the downloadable report has them all.
const SHOWN_ERRORS: usize = 500;

/// Imports uploaded, running or finished since the daemon started (the last
/// [`KEPT`]).
pub(crate) struct Imports {
    jobs: Mutex<Jobs>,
    /// The runtime the jobs run on: the daemon's main one, which outlives the
    /// connection threads' runtimes at shutdown.
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for Imports {
    fn default() -> Self {
        Imports {
            jobs: Mutex::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

#[derive(Default)]
struct Jobs {
    last_id: u64,
    /// Oldest first.
    list: VecDeque<Arc<Job>>,
}

/// One uploaded file and what became of it.
pub(crate) struct Job {
    pub id: u64,
    pub file_name: String,
    pub size: usize,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
    pub preview: Preview,
    /// Rows read so far, from the import's progress callback.
    rows_done: AtomicU64,
    state: Mutex<JobState>,
}

/// Where a job is.
#[derive(Debug, Clone)]
pub(crate) enum JobState {
    /// Previewed, waiting for "Start import"; the file is kept until then.
    Ready { text: Bytes, active: bool },
    Running {
        active: bool,
        started_at: DateTime<Utc>,
    },
    Done {
        active: bool,
        report: Arc<ImportReport>,
        finished_at: DateTime<Utc>,
    },
    /// The file as a whole was refused, or the store failed: nothing was imported.
    Failed {
        active: bool,
        message: String,
        finished_at: DateTime<Utc>,
    },
}

impl JobState {
    fn label(&self) -> &'static str {
        match self {
            JobState::Ready { .. } => "waiting for start",
            JobState::Running { .. } => "running",
            JobState::Done { .. } => "done",
            JobState::Failed { .. } => "failed",
        }
    }

    fn active(&self) -> bool {
        match self {
            JobState::Ready { active, .. }
            | JobState::Running { active, .. }
            | JobState::Done { active, .. }
            | JobState::Failed { active, .. } => *active,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while one of these is held leaves plain data behind; keep using it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Job {
    pub fn state(&self) -> JobState {
        lock(&self.state).clone()
    }

    pub fn rows_done(&self) -> u64 {
        self.rows_done.load(Ordering::Relaxed)
    }
}

/// Why a job could not be added or started.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JobError {
    /// [`KEPT`] imports are running already.
    Busy,
    /// It was started already (or dropped its file).
    NotReady,
}

impl Imports {
    /// Keeps a previewed upload as a new job.
    pub fn add(
        &self,
        file_name: String,
        uploaded_by: String,
        uploaded_at: DateTime<Utc>,
        preview: Preview,
        text: Bytes,
        active: bool,
    ) -> Result<Arc<Job>, JobError> {
        let mut jobs = lock(&self.jobs);
        let running = jobs
            .list
            .iter()
            .filter(|j| matches!(*lock(&j.state), JobState::Running { .. }))
            .count();
        if running >= KEPT {
            return Err(JobError::Busy);
        }
        jobs.last_id += 1;
        let job = Arc::new(Job {
            id: jobs.last_id,
            file_name,
            size: text.len(),
            uploaded_by,
            uploaded_at,
            preview,
            rows_done: AtomicU64::new(0),
            state: Mutex::new(JobState::Ready { text, active }),
        });
        jobs.list.push_back(Arc::clone(&job));
        // The oldest job that is not running goes while there are too many, and the
        // oldest waiting file while they hold too much memory (never the new one).
        loop {
            let waiting: usize = jobs
                .list
                .iter()
                .map(|j| match &*lock(&j.state) {
                    JobState::Ready { text, .. } => text.len(),
                    _ => 0,
                })
                .sum();
            let victim = if jobs.list.len() > KEPT {
                jobs.list
                    .iter()
                    .position(|j| !matches!(*lock(&j.state), JobState::Running { .. }))
            } else if waiting > WAITING_BYTES {
                jobs.list
                    .iter()
                    .position(|j| matches!(*lock(&j.state), JobState::Ready { .. }))
            } else {
                None
            };
            match victim {
                Some(at) if jobs.list[at].id != job.id => {
                    jobs.list.remove(at);
                }
                _ => break,
            }
        }
        Ok(job)
    }

    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        lock(&self.jobs).list.iter().find(|j| j.id == id).cloned()
    }

    /// The kept jobs, newest first.
    pub fn recent(&self) -> Vec<Arc<Job>> {
        lock(&self.jobs).list.iter().rev().cloned().collect()
    }

    /// Starts a waiting job in the background: `active` imports the rows as active,
    /// otherwise as pending with a confirmation email each (the service's own path).
    pub fn start(
        &self,
        job: &Arc<Job>,
        subscriptions: Subscriptions,
        active: bool,
    ) -> Result<(), JobError> {
        let started_at = subscriptions.now();
        let text = {
            let mut state = lock(&job.state);
            let JobState::Ready { text, .. } = &*state else {
                return Err(JobError::NotReady);
            };
            let text = text.clone();
            *state = JobState::Running { active, started_at };
            text
        };
        let runtime = self
            .runtime
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        let worker = Arc::clone(job);
        // Parsing a large file is seconds of CPU: on the blocking pool, not on a
        // thread that serves connections.
        let run = runtime.spawn_blocking(move || {
            let progress = |rows: u64| worker.rows_done.store(rows, Ordering::Relaxed);
            let result = tokio::runtime::Handle::current().block_on(subscriptions.import_csv(
                &text[..],
                active,
                &progress,
            ));
            let finished_at = subscriptions.now();
            *lock(&worker.state) = match result {
                Ok(report) => {
                    tracing::info!(
                        "console import {}: {} rows, {} added, {} updated, {} bad",
                        worker.id,
                        report.rows,
                        report.created,
                        report.updated,
                        report.errors.len()
                    );
                    JobState::Done {
                        active,
                        report: Arc::new(report),
                        finished_at,
                    }
                }
                Err(e) => {
                    tracing::warn!("console import {} failed: {e}", worker.id);
                    JobState::Failed {
                        active,
                        message: e.to_string(),
                        finished_at,
                    }
                }
            };
        });
        let watched = Arc::clone(job);
        runtime.spawn(async move {
            if let Err(e) = run.await {
                tracing::error!("console import {} stopped: {e}", watched.id);
                *lock(&watched.state) = JobState::Failed {
                    active,
                    message: "the import stopped before its end; the log says why".into(),
                    finished_at: started_at,
                };
            }
        });
        Ok(())
    }
}

/// The bad rows of a finished import as CSV: `line,message`, each cell safe to open
/// in a spreadsheet.
pub(crate) fn report_csv(report: &ImportReport) -> Vec<u8> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = csv.write_record(["line", "message"]);
    for error in &report.errors {
        let _ = csv.write_record([
            error.line.to_string(),
            spreadsheet_safe(&error.message).into_owned(),
        ]);
    }
    csv.into_inner().unwrap_or_default()
}

#[derive(Serialize)]
struct JobRow {
    id: u64,
    file_name: String,
    rows: u64,
    state: &'static str,
    uploaded_at: String,
    uploaded_by: String,
}

#[derive(Serialize)]
struct FormView<'a> {
    csrf: &'a str,
    max_mb: usize,
    error: Option<String>,
    jobs: Vec<JobRow>,
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn form_page(state: &Shared, admin: &Admin, error: Option<String>, status: StatusCode) -> Response {
    let jobs = parts(state, admin)
        .ok()
        .map(|(_, console)| console.state.imports.recent())
        .unwrap_or_default()
        .iter()
        .map(|job| JobRow {
            id: job.id,
            file_name: job.file_name.clone(),
            rows: job.preview.total,
            state: job.state().label(),
            uploaded_at: when(job.uploaded_at),
            uploaded_by: job.uploaded_by.clone(),
        })
        .collect();
    console_page_with(
        state,
        Some(admin),
        "import/form",
        "Import",
        None,
        status,
        &FormView {
            csrf: admin.csrf(),
            max_mb: MAX_UPLOAD / (1024 * 1024),
            error,
            jobs,
        },
    )
}

async fn form(State(state): State<Arc<Shared>>, admin: Admin) -> Response {
    form_page(&state, &admin, None, StatusCode::OK)
}

/// The fields of the upload form.
#[derive(Default)]
struct Upload {
    csrf: String,
    mode: String,
    file_name: String,
    text: Vec<u8>,
}

/// Why an upload was not read.
enum UploadError {
    TooLarge,
    Unreadable(String),
}

impl From<MultipartError> for UploadError {
    fn from(e: MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge
        } else {
            UploadError::Unreadable(e.body_text())
        }
    }
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, UploadError> {
    let mut upload = Upload::default();
    while let Some(mut field) = multipart.next_field().await? {
        match field.name() {
            Some("csrf") => upload.csrf = field.text().await?,
            Some("mode") => upload.mode = field.text().await?,
            Some("file") => {
                upload.file_name = field.file_name().unwrap_or("upload.csv").to_string();
                while let Some(chunk) = field.chunk().await? {
                    if upload.text.len() + chunk.len() > MAX_UPLOAD {
                        return Err(UploadError::TooLarge);
                    }
                    upload.text.extend_from_slice(&chunk);
                }
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// `POST /admin/import`: reads the file and shows its preview.
async fn upload(State(state): State<Arc<Shared>>, admin: Admin, multipart: Multipart) -> Response {
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(UploadError::TooLarge) => {
            return form_page(
                &state,
                &admin,
                Some(format!(
                    "The file is larger than {} MB. Split it into smaller files and import each.",
                    MAX_UPLOAD / (1024 * 1024)
                )),
                StatusCode::PAYLOAD_TOO_LARGE,
            );
        }
        Err(UploadError::Unreadable(why)) => {
            return form_page(
                &state,
                &admin,
                Some(format!("The upload could not be read: {why}")),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    if let Err(refused) = admin.check_csrf(&upload.csrf) {
        return refused;
    }
    let (imports, subscriptions) = match parts(&state, &admin) {
        Ok((people, console)) => (&console.state.imports, &people.subscriptions),
        Err(r) => return r,
    };
    if upload.text.is_empty() {
        return form_page(
            &state,
            &admin,
            Some("Choose a CSV file to import.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let active = upload.mode == "active";
    let text = Bytes::from(upload.text);
    let read = text.clone();
    let preview = tokio::task::spawn_blocking(move || preview_csv(&read, PREVIEW_ROWS)).await;
    let preview = match preview {
        Ok(Ok(preview)) => preview,
        Ok(Err(e)) => {
            return form_page(
                &state,
                &admin,
                Some(format!("This file cannot be imported: {e}")),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        Err(e) => {
            tracing::error!("console import preview stopped: {e}");
            return form_page(
                &state,
                &admin,
                Some("The file could not be read; the log says why.".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    match imports.add(
        upload.file_name,
        admin.email.clone(),
        subscriptions.now(),
        preview,
        text,
        active,
    ) {
        Ok(job) => Redirect::to(&format!("/admin/import/{}", job.id)).into_response(),
        Err(_) => form_page(
            &state,
            &admin,
            Some(format!(
                "{KEPT} imports are running; start this one when one of them is done."
            )),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    }
}

#[derive(Serialize)]
struct MappingRow {
    field: &'static str,
    column: Option<String>,
    otherwise: String,
}

#[derive(Serialize)]
struct HeaderCell {
    name: String,
    field: Option<&'static str>,
}

#[derive(Serialize)]
struct PreviewView<'a> {
    csrf: &'a str,
    id: u64,
    file_name: &'a str,
    size_kb: usize,
    total: u64,
    shown: usize,
    mapping: Vec<MappingRow>,
    header: Vec<HeaderCell>,
    rows: &'a [Vec<String>],
    ignored: &'a [String],
    active: bool,
}

#[derive(Serialize)]
struct ProgressView<'a> {
    id: u64,
    file_name: &'a str,
    done: u64,
    total: u64,
    percent: u64,
    saving: bool,
    active: bool,
    started_at: String,
}

#[derive(Serialize)]
struct ErrorRow<'a> {
    line: u64,
    message: &'a str,
}

#[derive(Serialize)]
struct ResultView<'a> {
    id: u64,
    file_name: &'a str,
    active: bool,
    finished_at: String,
    failure: Option<&'a str>,
    report: Option<&'a ImportReport>,
    bad: usize,
    errors: Vec<ErrorRow<'a>>,
    more_errors: usize,
}

/// `GET /admin/import/{id}`: the preview, the progress or the result.
async fn job_page(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let Some(job) = id
        .parse()
        .ok()
        .and_then(|id| parts(&state, &admin).ok()?.1.state.imports.get(id))
    else {
        return not_found(
            &state,
            Some(&admin),
            "There is no such import: the console keeps the last 20 since the daemon started.",
        );
    };
    match job.state() {
        JobState::Ready { active, .. } => preview_page(&state, &admin, &job, active),
        JobState::Running { active, started_at } => {
            let total = job.preview.total;
            let done = job.rows_done().min(total);
            let percent = (done * 100).checked_div(total).unwrap_or(100);
            console_page_refreshing(
                &state,
                Some(&admin),
                "import/progress",
                "Import running",
                None,
                StatusCode::OK,
                Some(2),
                &ProgressView {
                    id: job.id,
                    file_name: &job.file_name,
                    done,
                    total,
                    percent,
                    saving: done >= total,
                    active,
                    started_at: when(started_at),
                },
            )
        }
        JobState::Done {
            active,
            report,
            finished_at,
        } => result_page(
            &state,
            &admin,
            &job,
            active,
            None,
            Some(&report),
            finished_at,
        ),
        JobState::Failed {
            active,
            message,
            finished_at,
        } => result_page(
            &state,
            &admin,
            &job,
            active,
            Some(&message),
            None,
            finished_at,
        ),
    }
}

fn preview_page(state: &Shared, admin: &Admin, job: &Job, active: bool) -> Response {
    let mapping = &job.preview.mapping;
    let settings = parts(state, admin)
        .ok()
        .map(|(people, _)| people.subscriptions.settings());
    let rows = mapping
        .fields
        .iter()
        .map(|&(field, at)| MappingRow {
            field,
            column: at.map(|i| format!("column {} ({})", i + 1, mapping.headers[i])),
            otherwise: match field {
                "name" => "left empty".into(),
                "audiences" => "none: every row is refused (each needs an audience)".into(),
                "frequency" => settings.map_or(String::new(), |s| {
                    format!("the default, {}", s.default_frequency)
                }),
                "timezone" => settings.map_or(String::new(), |s| {
                    format!("the default, {}", s.default_timezone)
                }),
                _ => String::new(),
            },
        })
        .collect();
    let header = mapping
        .headers
        .iter()
        .enumerate()
        .map(|(i, name)| HeaderCell {
            name: name.clone(),
            field: mapping.field_of(i),
        })
        .collect();
    console_page(
        state,
        Some(admin),
        "import/preview",
        "Import preview",
        &PreviewView {
            csrf: admin.csrf(),
            id: job.id,
            file_name: &job.file_name,
            size_kb: job.size.div_ceil(1024),
            total: job.preview.total,
            shown: job.preview.rows.len(),
            mapping: rows,
            header,
            rows: &job.preview.rows,
            ignored: &mapping.ignored,
            active,
        },
    )
}

fn result_page(
    state: &Shared,
    admin: &Admin,
    job: &Job,
    active: bool,
    failure: Option<&str>,
    report: Option<&ImportReport>,
    finished_at: DateTime<Utc>,
) -> Response {
    let errors = report.map_or(&[][..], |r| &r.errors[..]);
    console_page(
        state,
        Some(admin),
        "import/result",
        "Import result",
        &ResultView {
            id: job.id,
            file_name: &job.file_name,
            active,
            finished_at: when(finished_at),
            failure,
            report,
            bad: errors.len(),
            errors: errors
                .iter()
                .take(SHOWN_ERRORS)
                .map(|e| ErrorRow {
                    line: e.line,
                    message: &e.message,
                })
                .collect(),
            more_errors: errors.len().saturating_sub(SHOWN_ERRORS),
        },
    )
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    mode: String,
}

/// `POST /admin/import/{id}/start`.
async fn start(
    State(state): State<Arc<Shared>>,
    Path(id): Path<String>,
    CsrfForm(admin, form): CsrfForm<StartForm>,
) -> Response {
    let (imports, subscriptions) = match parts(&state, &admin) {
        Ok((people, console)) => (&console.state.imports, &people.subscriptions),
        Err(r) => return r,
    };
    let Some(job) = id.parse().ok().and_then(|id| imports.get(id)) else {
        return not_found(&state, Some(&admin), "There is no such import.");
    };
    let active = match form.mode.as_str() {
        "active" => true,
        "double-opt-in" => false,
        _ => job.state().active(),
    };
    // Started twice (a second click): the job's page shows where it is.
    let _ = imports.start(&job, subscriptions.clone(), active);
    Redirect::to(&format!("/admin/import/{}", job.id)).into_response()
}

/// `GET /admin/import/{id}/report.csv`: every bad row of a finished import.
async fn report(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let job = id
        .parse()
        .ok()
        .and_then(|id| parts(&state, &admin).ok()?.1.state.imports.get(id));
    let Some((id, JobState::Done { report, .. })) = job.as_ref().map(|j| (j.id, j.state())) else {
        return not_found(
            &state,
            Some(&admin),
            "This import has no report: it is not finished, or the console no longer keeps it.",
        );
    };
    let name = format!("import-{id}-report.csv");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        report_csv(&report),
    )
        .into_response()
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/admin/import",
            get(form)
                .post(upload)
                // The file's limit is checked as it is read, with a clear page;
                // this only leaves room for it and the other fields.
                .layer(DefaultBodyLimit::max(MAX_UPLOAD + 64 * 1024)),
        )
        .route("/admin/import/{id}", get(job_page))
        .route("/admin/import/{id}/start", post(start))
        .route("/admin/import/{id}/report.csv", get(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::articles::Library;
    use crate::audience::Taxonomy;

    async fn service(dir: &std::path::Path) -> Subscriptions {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let taxonomy = Arc::new(Taxonomy::load(&root.join("subscribers/audiences.toml")).unwrap());
        let library = Arc::new(Library::new(Vec::new(), Vec::new(), taxonomy));
        Subscriptions::new(
            crate::store::Store::open(&dir.join("crier.db"))
                .await
                .unwrap(),
            crate::tokens::Signer::new(b"a test secret of thirty-two bytes or more"),
            Arc::new(crate::templates::Templates::embedded()),
            Arc::new(crate::clock::FixedClock::new(Utc::now())),
            tokio::sync::watch::channel(library).1,
            crate::subscriptions::Settings {
                base_url: url::Url::parse("https://news.example.test/").unwrap(),
                site_title: "Test".into(),
                postal_address: "1 Test Lane".into(),
                email_domain: "news.example.test".into(),
                frequencies: vec!["daily".into(), "weekly".into()],
                default_frequency: "weekly".into(),
                default_timezone: "UTC".into(),
                consent_version: "1".into(),
                confirm_hours: 72,
            },
        )
    }

    fn upload(imports: &Imports, csv: &str) -> Arc<Job> {
        let text = Bytes::from(csv.to_string());
        let preview = preview_csv(&text, PREVIEW_ROWS).unwrap();
        imports
            .add(
                "list.csv".into(),
                "admin@example.org".into(),
                Utc::now(),
                preview,
                text,
                false,
            )
            .unwrap()
    }

    async fn finished(job: &Job) -> JobState {
        for _ in 0..500 {
            match job.state() {
                JobState::Running { .. } | JobState::Ready { .. } => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                done => return done,
            }
        }
        panic!("the import did not end");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_runs_once_in_the_background_and_keeps_its_report() {
        let dir = tempfile::tempdir().unwrap();
        let subscriptions = service(dir.path()).await;
        let imports = Imports::default();
        let job = upload(
            &imports,
            "email,audiences,extra\nada@example.org,hr,1\nnot-an-address,hr,2\nbob@example.org,astronauts,3\n",
        );
        assert_eq!(job.preview.total, 3);
        imports.start(&job, subscriptions.clone(), true).unwrap();
        assert_eq!(
            imports.start(&job, subscriptions.clone(), true),
            Err(JobError::NotReady)
        );
        let JobState::Done { report, active, .. } = finished(&job).await else {
            panic!("{:?}", job.state());
        };
        assert!(active);
        assert_eq!((report.rows, report.created), (3, 1));
        assert_eq!(report.ignored_columns, ["extra"]);
        assert_eq!(job.rows_done(), 3);
        let csv = String::from_utf8(report_csv(&report)).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "line,message");
        assert!(
            lines[1].starts_with("3,") && lines[1].contains("not-an-address"),
            "{csv}"
        );
        assert!(
            lines[2].starts_with("4,") && lines[2].contains("astronauts"),
            "{csv}"
        );
        assert_eq!(lines.len(), 3);
    }

    #[tokio::test]
    async fn only_the_last_jobs_are_kept() {
        let imports = Imports::default();
        let first = upload(&imports, "email\na@example.org\n");
        let mut last = None;
        for _ in 0..KEPT {
            last = Some(upload(&imports, "email\nb@example.org\n"));
        }
        let last = last.unwrap();
        assert_eq!(imports.recent().len(), KEPT);
        assert!(imports.get(first.id).is_none());
        assert_eq!(imports.recent()[0].id, last.id);
        assert_eq!(last.id, first.id + KEPT as u64);
    }
}
