//! Integration tests of custos-probe: one binary, one module per area.

mod pack;
