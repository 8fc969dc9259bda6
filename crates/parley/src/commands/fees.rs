//! `parley fees …`: rate cards from the shell (on the database directly).

use std::path::PathBuf;

use anyhow::{Context, bail};
use parley_core::fees::{Currency, PricingModel};
use parley_core::{Clock, SystemClock};
use parley_server::fees::{CardHeader, effective_date, read_card};
use parley_store::{RateCardInfo, StoreError};

use crate::config::Config;

pub struct Import {
    pub file: PathBuf,
    pub currency: String,
    pub effective: String,
    pub model: String,
    pub sample: bool,
}

/// `parley fees rates import`: reads and checks the whole file, then keeps it as one card.
pub async fn import(config: &Config, args: Import) -> anyhow::Result<()> {
    let currency = Currency::parse(&args.currency).map_err(anyhow::Error::msg)?;
    let model = PricingModel::parse(&args.model).context("--model is pmp or cbp")?;
    let effective_from = effective_date(&args.effective).map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let source = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let header = CardHeader { currency, model, effective_from, sample: args.sample, source };
    let card = match read_card(&bytes, header) {
        Ok(card) => card,
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {p}", args.file.display());
            }
            bail!("the card was not imported ({} problems)", problems.len());
        }
    };
    let store = parley_store::open(&config.database).await?;
    match store.import_rate_card(&card, SystemClock.now()).await {
        Ok(info) => {
            println!("imported card {}", described(&info));
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => {
            bail!(
                "a {} {} card already takes effect then: cards are never changed, import it with another date",
                card.currency.as_str(),
                card.model.as_str()
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `parley fees rates list`: one line per card.
pub async fn list(config: &Config) -> anyhow::Result<()> {
    let store = parley_store::open(&config.database).await?;
    for c in store.rate_cards().await? {
        println!("{}\t{}", described(&c), c.source);
    }
    Ok(())
}

/// `3: USD PMP from 2026-10-01T00:00:00.000000Z, 62 lines` (and `, SAMPLE`).
fn described(c: &RateCardInfo) -> String {
    let sample = if c.sample { ", SAMPLE" } else { "" };
    let (currency, model, from) = (c.currency.as_str(), c.model.as_str(), c.effective_from.to_rfc3339());
    format!("{}: {currency} {model} from {from}, {} lines{sample}", c.id, c.lines)
}
