//! `load_config(path)`: a YAML or TOML file read by the core's own
//! [`fusebox::Config`], the same code the Rust `Registry` uses; the package's
//! registry builds its breakers from [`LoadedConfig`].

use fusebox::{BreakerConfig, Config};
use pyo3::prelude::*;

use crate::errors;

/// A loaded configuration file: defaults and per-name settings.
#[pyclass(module = "fusebox._fusebox", frozen)]
pub(crate) struct LoadedConfig {
    config: Config,
    path: String,
}

impl LoadedConfig {
    /// The settings of breaker `name`: its own over the defaults.
    pub(crate) fn settings_of(&self, name: &str) -> BreakerConfig {
        self.config.for_breaker(name)
    }
}

#[pymethods]
impl LoadedConfig {
    /// The file it was read from.
    #[getter]
    fn path(&self) -> String {
        self.path.clone()
    }

    /// The names that have settings of their own.
    fn names(&self) -> Vec<String> {
        self.config.breakers.keys().cloned().collect()
    }

    fn __repr__(&self) -> String {
        format!("<LoadedConfig {:?}>", self.path)
    }
}

/// Reads a `.yaml`, `.yml` or `.toml` configuration file; `ValueError`
/// naming the file, line and key if it is invalid.
#[pyfunction]
pub(crate) fn load_config(py: Python<'_>, path: std::path::PathBuf) -> PyResult<LoadedConfig> {
    let config = py
        .detach(|| Config::from_file(&path))
        .map_err(errors::config_file)?;
    Ok(LoadedConfig {
        config,
        path: path.display().to_string(),
    })
}
