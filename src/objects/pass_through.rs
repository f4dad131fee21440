//! PassThrough: an element that forwards its media unchanged.

use rheo_media as media;

use super::{values, Built, NewElement, Result};

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    media::PassThrough::create(new.pipeline, new.id)
        .map(Built::from)
        .map_err(values::media_error)
}
