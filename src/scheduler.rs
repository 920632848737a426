//! (to be written)

use crate::controllers::runtime::Context;

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    ctx.stop.cancelled().await;
}
