//! One module per library, each with the same cells.

pub mod ferro;
pub mod libzmq;
pub mod omq;
pub mod rzmq;
pub mod zmqrs;
