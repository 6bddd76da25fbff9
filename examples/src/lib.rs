//! Message types shared by the examples.
