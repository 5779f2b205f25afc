pub mod agents;
pub mod ledger;
