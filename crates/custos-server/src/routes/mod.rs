pub mod agents;
pub mod gateway;
pub mod ledger;
pub mod protect;
