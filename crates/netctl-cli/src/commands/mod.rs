pub mod containers;
pub mod events;
pub mod network;
pub mod ports;
pub mod run;
