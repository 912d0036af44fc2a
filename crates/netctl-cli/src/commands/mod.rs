pub mod containers;
pub mod events;
pub mod network;
pub mod oci_hook;
pub mod ports;
pub mod run;
