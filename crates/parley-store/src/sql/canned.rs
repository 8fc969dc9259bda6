//! Canned responses, per workspace.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{UserId, WorkspaceId};

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{CannedResponse, CannedResponses};

macro_rules! columns {
    () => {
        "id, shortcut, body, created_by, updated_at"
    };
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> CannedResponses for SqlStore<DB> {
    async fn canned_responses(&self, ws: WorkspaceId, prefix: Option<&str>) -> StoreResult<Vec<CannedResponse>> {
        // Shortcuts are [a-z0-9_-]: a prefix needs no escaping in LIKE except `_`.
        let pattern = prefix.map(|p| format!("{}%", p.replace('_', "\\_")));
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM canned_responses WHERE workspace_id = $1 AND ($2 IS NULL OR shortcut LIKE $2 ESCAPE '\\')
             ORDER BY shortcut LIMIT 500"
        );
        Ok(sqlx::query_as(sql).bind(ws.get()).bind(pattern).fetch_all(&self.read).await?)
    }

    async fn create_canned_response(
        &self,
        ws: WorkspaceId,
        shortcut: &str,
        body: &str,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<CannedResponse> {
        let mut tx = self.begin_write().await?;
        let sql = concat!(
            "INSERT INTO canned_responses (workspace_id, shortcut, body, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            columns!()
        );
        let row: CannedResponse = sqlx::query_as(sql)
            .bind(ws.get())
            .bind(shortcut.to_owned())
            .bind(body.to_owned())
            .bind(by.map(|u| u.get()))
            .bind(now.as_micros())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn update_canned_response(
        &self,
        ws: WorkspaceId,
        id: i64,
        shortcut: Option<&str>,
        body: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<CannedResponse> {
        let mut tx = self.begin_write().await?;
        let sql = concat!(
            "UPDATE canned_responses SET shortcut = COALESCE($1, shortcut), body = COALESCE($2, body), updated_at = $3
             WHERE workspace_id = $4 AND id = $5 RETURNING ",
            columns!()
        );
        let row: Option<CannedResponse> = sqlx::query_as(sql)
            .bind(shortcut.map(str::to_owned))
            .bind(body.map(str::to_owned))
            .bind(now.as_micros())
            .bind(ws.get())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    async fn delete_canned_response(&self, ws: WorkspaceId, id: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM canned_responses WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
}
