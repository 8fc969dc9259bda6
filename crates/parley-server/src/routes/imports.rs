//! `/api/v1/imports`: upload a CSV file of contacts to import in the background, follow its
//! progress, download its refused rows. `/api/v1/contacts/export`: every contact as CSV. Owners
//! and managers only (a whole contact base goes in or out).

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::contacts_csv::ImportOptions;
use parley_store::{Import, NewImport};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::contacts_io::{export_csv, rejects_csv};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, PathId, list_limit};
use crate::state::AppState;
use crate::uploads::{ByteMeter, PendingFile};

/// Largest CSV file accepted (a million contacts with a few fields is about 100 MB).
pub const IMPORT_LIMIT: usize = 512 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(
            OpenApiRouter::new()
                .routes(routes!(create_import))
                .layer(axum::extract::DefaultBodyLimit::max(IMPORT_LIMIT)),
        )
        .routes(routes!(list_imports))
        .routes(routes!(get_import))
        .routes(routes!(get_rejects))
        .routes(routes!(export_contacts))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 200; 20 by default.
    limit: Option<u32>,
}

/// Reads the multipart parts; the file goes to `upload` as it arrives, counted against the
/// user's upload quota (a `PendingFile`: removed whatever goes wrong later, unless kept).
async fn read_parts(
    state: &AppState,
    auth: &Auth,
    multipart: &mut Multipart,
    upload: &mut Option<(String, PendingFile, i64)>,
) -> ApiResult<(ImportOptions, bool)> {
    let mut options = ImportOptions::default();
    let mut dry_run = false;
    let bad = |m: &str| ApiError::bad_request(m.to_owned());
    while let Some(mut field) = multipart.next_field().await.map_err(|e| bad(&format!("bad multipart body: {e}")))? {
        match field.name().unwrap_or_default() {
            "options" => {
                let text = field.text().await.map_err(|e| bad(&e.to_string()))?;
                options = serde_json::from_str(&text)
                    .map_err(|e| ApiError::bad_request(format!("options: {e}")).with_field("options"))?;
                options.delimiter_byte()?;
            }
            "dry_run" => {
                let text = field.text().await.map_err(|e| bad(&e.to_string()))?;
                dry_run = match text.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(bad("dry_run is true or false").with_field("dry_run")),
                };
            }
            "file" => {
                let filename = field.file_name().unwrap_or("contacts.csv").chars().take(200).collect::<String>();
                if upload.is_some() {
                    return Err(bad("send one file").with_field("file"));
                }
                state.upload_limiter.start_file(auth.user_id)?;
                // tokio::fs: the disk is written from the blocking pool, never a runtime worker.
                tokio::fs::create_dir_all(&state.imports_dir).await.map_err(|e| {
                    tracing::error!(error = %e, "cannot create the imports directory");
                    ApiError::internal()
                })?;
                let path = state.imports_dir.join(format!("upload-{}.csv", random_name()));
                let mut file = tokio::fs::File::create(&path).await.map_err(|e| {
                    tracing::error!(error = %e, "cannot store an import upload");
                    ApiError::internal()
                })?;
                let (_, _, size) = upload.insert((filename, PendingFile::new(path), 0));
                let mut meter = ByteMeter::new(&state.upload_limiter, auth.user_id);
                while let Some(chunk) = field.chunk().await.map_err(|e| bad(&format!("upload interrupted: {e}")))? {
                    // Counted before it is written: past the quota, nothing more reaches the disk.
                    meter.add(chunk.len())?;
                    *size += chunk.len() as i64;
                    file.write_all(&chunk).await.map_err(|e| {
                        tracing::error!(error = %e, "cannot store an import upload");
                        ApiError::internal()
                    })?;
                }
                // Every write done before the import is stored and its worker opens the file.
                file.flush().await.map_err(|e| {
                    tracing::error!(error = %e, "cannot store an import upload");
                    ApiError::internal()
                })?;
                meter.finish()?;
            }
            other => return Err(bad(&format!("unknown part {other:?}: use file, options and dry_run"))),
        }
    }
    Ok((options, dry_run))
}

/// Import contacts from a CSV file, in the background. Multipart parts: `file` (the CSV),
/// `options` (JSON: `mode` add | update | upsert | add_all, `identifier` id | phone | email,
/// `mapping` {column: target or null}, `overwrite`, `delimiter`, `encoding` utf-8 | windows-1252),
/// `dry_run` (`true`: the full report, nothing written). Answers 202 with the import; follow it
/// at `GET /imports/{id}`.
#[utoipa::path(post, path = "/imports", tag = "contacts",
    request_body(content = String, description = "multipart: file, options, dry_run", content_type = "multipart/form-data"),
    responses((status = 202, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "the user's upload quota (`upload_rate_limited`, `upload_quota_exceeded`)")),
    security(("bearer" = [])))]
async fn create_import(
    State(state): State<AppState>,
    auth: Auth,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Import>)> {
    auth.require_admin()?;
    // Bad input changes nothing: on any error below (or a client that hangs up), the pending
    // file, with whatever part of it was written, is removed when `upload` is dropped.
    let mut upload = None;
    let (options, dry_run) = match read_parts(&state, &auth, &mut multipart, &mut upload).await {
        Ok(parts) => parts,
        Err(e) => {
            if let Some((_, pending, _)) = upload {
                pending.discard().await;
            }
            return Err(e);
        }
    };
    let Some((filename, pending, size)) = upload else {
        return Err(ApiError::bad_request("the CSV file goes in a part named file").with_field("file"));
    };
    if size == 0 {
        pending.discard().await;
        return Err(ApiError::bad_request("the file is empty").with_field("file"));
    }
    let new = NewImport {
        filename,
        path: pending.path().to_string_lossy().into_owned(),
        options,
        dry_run,
        bytes_total: size,
        created_by: Some(auth.user_id),
        held_until: None,
    };
    let import = match state.store.create_import(auth.workspace_id, new, state.clock.now()).await {
        Ok(import) => import,
        Err(e) => {
            pending.discard().await;
            return Err(e.into());
        }
    };
    pending.keep();
    state.imports_wakeup.notify_one();
    Ok((StatusCode::ACCEPTED, Json(import)))
}

fn random_name() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rng().random();
    hex::encode(bytes)
}

/// Recent imports, newest first.
#[utoipa::path(get, path = "/imports", tag = "contacts", params(ListParams),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_imports(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Vec<Import>>> {
    auth.require_admin()?;
    let limit = list_limit(params.limit, 20, 200)?;
    Ok(Json(state.store.imports(auth.workspace_id, limit).await?))
}

/// An import's progress and result: state, bytes and rows read, rows created, updated,
/// unchanged, skipped and rejected, columns ignored, and the error when it failed.
#[utoipa::path(get, path = "/imports/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_import(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Import>> {
    auth.require_admin()?;
    Ok(Json(state.store.import(auth.workspace_id, id).await?))
}

/// The refused rows as CSV: line, column, value, code, reason (one line per problem).
#[utoipa::path(get, path = "/imports/{id}/rejects", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_rejects(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Response> {
    auth.require_admin()?;
    // Found (or a 404) before the answer starts; the file itself is streamed.
    state.store.import(auth.workspace_id, id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (store, ws) = (state.store.clone(), auth.workspace_id);
    tokio::spawn(async move {
        if let Err(e) = rejects_csv(&*store, ws, id, tx).await {
            tracing::warn!(error = %e, "rejects file stopped");
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"import-{id}-rejects.csv\"")),
        ],
        Body::from_stream(chunks(rx)),
    )
        .into_response())
}

/// The chunks a writer task sends, as a response body.
fn chunks(
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok(axum::body::Bytes::from(chunk)), rx))
    })
}

/// Every contact as CSV, streamed: `id,name,phone,email,tags` and a column per custom field
/// (`key:number` / `key:boolean` for typed fields). The import reads it back unchanged.
#[utoipa::path(get, path = "/contacts/export", tag = "contacts",
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn export_contacts(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    auth.require_admin()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let store = state.store.clone();
    let ws = auth.workspace_id;
    tokio::spawn(async move {
        if let Err(e) = export_csv(&*store, ws, tx).await {
            tracing::warn!(error = %e, "export stopped");
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"contacts.csv\""),
        ],
        Body::from_stream(chunks(rx)),
    )
        .into_response())
}
