//! Sans-IO ZMTP (to be written).
