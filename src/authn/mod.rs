//! How customers prove who they are. Each method yields an authentication
//! event that a session records.

pub mod password;
