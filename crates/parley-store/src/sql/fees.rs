//! WhatsApp fees: rate cards, imported whole in one transaction and read by the date they are
//! in force from.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::card::{Rate, RateCard};
use parley_core::fees::{Category, Currency, Micros, PricingModel};

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{Fees, RateCardInfo};

macro_rules! card_columns {
    () => {
        "c.id, c.currency, c.model, c.effective_from, c.sample, c.source, c.imported_at,
         (SELECT COUNT(*) FROM rate_card_lines l WHERE l.card_id = c.id)"
    };
}

type CardRow = (i64, String, String, i64, i64, String, i64, i64);
/// A card line as read: market, category, tier from, tier to, rate.
pub(crate) type LineRow = (String, String, Option<i64>, Option<i64>, i64);

/// A card's lines as rates (a category the core does not know is a corrupt card).
pub(crate) fn rates_of(rows: Vec<LineRow>) -> StoreResult<Vec<Rate>> {
    rows.into_iter()
        .map(|(market, category, tier_from, tier_to, rate)| {
            Ok(Rate {
                market,
                category: Category::parse(&category)
                    .ok_or_else(|| StoreError::Corrupt(format!("rate category {category:?}")))?,
                tier_from: tier_from.map(|t| t as u64),
                tier_to: tier_to.map(|t| t as u64),
                rate: Micros(rate),
            })
        })
        .collect()
}

fn card_info(row: CardRow) -> StoreResult<RateCardInfo> {
    let (id, currency, model, effective_from, sample, source, imported_at, lines) = row;
    Ok(RateCardInfo {
        id,
        currency: Currency::parse(&currency).map_err(StoreError::Corrupt)?,
        model: PricingModel::parse(&model).ok_or_else(|| StoreError::Corrupt(format!("pricing model {model:?}")))?,
        effective_from: Timestamp::from_micros(effective_from),
        sample: sample == 1,
        source,
        imported_at: Timestamp::from_micros(imported_at),
        lines,
    })
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Fees for SqlStore<DB> {
    async fn import_rate_card(&self, card: &RateCard, now: Timestamp) -> StoreResult<RateCardInfo> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rate_cards (currency, model, effective_from, sample, source, imported_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(card.currency.as_str().to_owned())
        .bind(card.model.as_str().to_owned())
        .bind(card.effective_from.as_micros())
        .bind(i64::from(card.sample))
        .bind(card.source.clone())
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        for lines in card.rates.chunks(100) {
            let mut insert = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO rate_card_lines (card_id, market, category, tier_from, tier_to, rate) ",
            );
            insert.push_values(lines, |mut row, line| {
                row.push_bind(id)
                    .push_bind(line.market.clone())
                    .push_bind(line.category.as_str().to_owned())
                    .push_bind(line.tier_from.map(|t| t as i64))
                    .push_bind(line.tier_to.map(|t| t as i64))
                    .push_bind(line.rate.0);
            });
            insert.build().execute(&mut *tx).await?;
        }
        let sql = concat!("SELECT ", card_columns!(), " FROM rate_cards c WHERE c.id = $1");
        let row: CardRow = sqlx::query_as(sql).bind(id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        card_info(row)
    }

    async fn rate_cards(&self) -> StoreResult<Vec<RateCardInfo>> {
        let sql = concat!("SELECT ", card_columns!(), " FROM rate_cards c ORDER BY c.effective_from DESC, c.id DESC");
        let rows: Vec<CardRow> = sqlx::query_as(sql).fetch_all(&self.read).await?;
        rows.into_iter().map(card_info).collect()
    }

    async fn rate_card_in_force(
        &self,
        currency: &Currency,
        model: PricingModel,
        at: Timestamp,
    ) -> StoreResult<Option<(RateCardInfo, RateCard)>> {
        let sql = concat!(
            "SELECT ",
            card_columns!(),
            " FROM rate_cards c WHERE c.currency = $1 AND c.model = $2 AND c.effective_from <= $3
             ORDER BY c.effective_from DESC LIMIT 1"
        );
        let row: Option<CardRow> = sqlx::query_as(sql)
            .bind(currency.as_str().to_owned())
            .bind(model.as_str().to_owned())
            .bind(at.as_micros())
            .fetch_optional(&self.read)
            .await?;
        let Some(info) = row.map(card_info).transpose()? else { return Ok(None) };
        let lines: Vec<LineRow> = sqlx::query_as(
            "SELECT market, category, tier_from, tier_to, rate FROM rate_card_lines WHERE card_id = $1
             ORDER BY market, category, tier_from",
        )
        .bind(info.id)
        .fetch_all(&self.read)
        .await?;
        let rates = rates_of(lines)?;
        let card = RateCard {
            currency: info.currency.clone(),
            model: info.model,
            effective_from: info.effective_from,
            sample: info.sample,
            source: info.source.clone(),
            rates,
        };
        Ok(Some((info, card)))
    }
}
