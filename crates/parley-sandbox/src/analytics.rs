//! Meta's `pricing_analytics` as the sandbox plays it: every message it accepted and did not
//! fail is priced (by the rate card a test or the demo gives it; nothing without one) and
//! counted per day, country, category and pricing type, so Parley's nightly reconciliation has
//! something to compare its ledger with. A test can plant a difference.
//!
//! `GET /<version>/<WABA id>/pricing_analytics?start=<unix>&end=<unix>&granularity=DAILY`
//! answers `{"data": [{"granularity": "DAILY", "data_points": [{"start", "end", "country",
//! "pricing_category", "pricing_type", "volume", "cost"}]}]}` (categories and types in capitals,
//! the cost a number in the card's currency).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use parley_core::fees::card::RateCard;
use parley_core::fees::markets::markets_of;
use parley_core::fees::{Category, Micros, PricingType};
use serde_json::json;

use crate::Inner;
use crate::graph::GraphError;

/// One priced message.
#[derive(Clone, Debug)]
pub(crate) struct Priced {
    pub at: i64,
    pub waba_id: String,
    pub country: String,
    pub category: String,
    pub pricing_type: String,
    pub cost: Micros,
}

#[derive(Default)]
pub(crate) struct Analytics {
    pub card: Option<RateCard>,
    pub priced: Vec<Priced>,
}

impl Inner {
    /// Prices and counts a message the sandbox accepted. `charged`: whether it pays (per
    /// message: unless free; per conversation: the one that opened it).
    pub(crate) fn count_priced(
        &self,
        phone_number_id: &str,
        to: &str,
        category: &str,
        pricing_type: &str,
        charged: bool,
    ) {
        let waba_id =
            self.numbers.lock().expect("numbers").get(phone_number_id).map(|n| n.waba_id.clone()).unwrap_or_default();
        let country =
            parley_core::phone::E164::parse(&format!("+{to}")).ok().and_then(|p| p.region()).unwrap_or_default();
        let mut analytics = self.analytics.lock().expect("analytics");
        let cost = match (&analytics.card, Category::parse(category), PricingType::parse(pricing_type)) {
            (Some(card), Some(c), Some(t)) if charged => {
                card.rate(&markets_of(to), c, t, 1).map_or(Micros::ZERO, |p| p.amount)
            }
            _ => Micros::ZERO,
        };
        let at = self.clock.now().as_secs();
        analytics.priced.push(Priced {
            at,
            waba_id,
            country,
            category: category.to_owned(),
            pricing_type: pricing_type.to_owned(),
            cost,
        });
    }
}

/// `GET /<version>/<WABA id>/pricing_analytics`.
pub(crate) async fn pricing_analytics(
    State(inner): State<Arc<Inner>>,
    Path((_version, waba)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let known = inner.numbers.lock().expect("numbers").values().any(|n| n.waba_id == waba);
    if !known {
        return GraphError::no_object().into_response();
    }
    if !crate::graph::authorized(&inner, &headers) {
        return GraphError::unauthorized().into_response();
    }
    let bound = |name: &str| params.get(name).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end)) = (bound("start"), bound("end")) else {
        return GraphError::bad(100, "start and end are required").into_response();
    };
    let mut days: BTreeMap<(i64, String, String, String), (i64, i64)> = BTreeMap::new();
    for p in inner.analytics.lock().expect("analytics").priced.iter() {
        if p.waba_id != waba || p.at < start || p.at >= end {
            continue;
        }
        let day = p.at - p.at.rem_euclid(86_400);
        let slot = days.entry((day, p.country.clone(), p.category.clone(), p.pricing_type.clone())).or_default();
        slot.0 += 1;
        slot.1 += p.cost.0;
    }
    let points: Vec<_> = days
        .into_iter()
        .map(|((day, country, category, pricing_type), (volume, cost))| {
            json!({"start": day, "end": day + 86_400, "country": country,
                "pricing_category": category.to_ascii_uppercase(), "pricing_type": pricing_type.to_ascii_uppercase(),
                "volume": volume, "cost": cost as f64 / 1_000_000.0})
        })
        .collect();
    Json(json!({"data": [{"granularity": "DAILY", "data_points": points}]})).into_response()
}
