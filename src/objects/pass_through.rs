//! PassThrough: an element that forwards its media unchanged.

use super::{values, Built, NewElement, Result};

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    new.pipeline
        .create_passthrough(new.id)
        .map(Built::from)
        .map_err(values::media_error)
}
