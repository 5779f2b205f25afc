pub mod agents;
pub mod gateway;
pub mod ledger;
