//! What can stop the engine, and reading a tensor back to the CPU: the one device operation that can fail, and the
//! one that must be awaited (the browser cannot block on the GPU). Every layer from `sparsity` up shares both.

use burn::prelude::*;

use crate::data::DataError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("training diverged: the loss became {loss} (checked at step {step})")]
    Diverged { step: usize, loss: f32 },
    #[error("reading results from the device failed: {0}")]
    Readback(String),
    #[error("the run was stopped")]
    Cancelled,
}

/// Read a tensor back to the CPU.
pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
    let data = t.into_data_async().await.map_err(|e| TrainError::Readback(e.to_string()))?;
    data.try_into_vec_as::<f32>().map_err(|e| TrainError::Readback(format!("{e:?}")))
}
