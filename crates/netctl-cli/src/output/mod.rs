pub mod table;
pub mod template;
