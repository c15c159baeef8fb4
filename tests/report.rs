//! The report formats as CI tools see them (being written).
