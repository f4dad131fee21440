//! Elements that work on the media between endpoints: PassThrough and the video filters.

mod element_policy;
mod filter_bin;
mod filter_data;
mod forward;
mod passthrough;
pub(crate) mod vision;

pub use element_policy::{ElementPolicy, DEFAULT_MAX_ELEMENTS};
pub use filter_bin::{FaceOverlay, FilterBin, SdkFilter};
pub use passthrough::PassThrough;
