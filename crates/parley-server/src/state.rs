//! What every handler can reach.

use std::sync::Arc;

use parley_core::Clock;
use parley_store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}
