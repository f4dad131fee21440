//! PassThrough: an element that forwards audio and video unchanged.

use std::any::Any;
use std::sync::Arc;

use gst::prelude::*;

use super::forward::Forward;
use crate::api_contract::*;
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::output::Output;
use crate::graph::pipeline::MediaPipeline;

/// PassThrough: forwards audio and video unchanged.
pub struct PassThrough {
    audio: Forward,
    video: Forward,
}

impl PassThrough {
    pub fn create(pipeline: &MediaPipeline, id: &str) -> crate::Result<Element> {
        pipeline.add(id, |ctx| {
            let bin = ctx.new_bin("passthrough")?;
            let kind = PassThrough {
                audio: Forward::new(ctx, MediaKind::Audio),
                video: Forward::new(ctx, MediaKind::Video),
            };
            let _ = bin.sync_state_with_parent();
            Ok((bin, kind))
        })
    }

    fn get(&self, media: MediaKind) -> Option<&Forward> {
        match media {
            MediaKind::Audio => Some(&self.audio),
            MediaKind::Video => Some(&self.video),
            MediaKind::Data => None,
        }
    }
}

impl ElementKind for PassThrough {
    fn input(&self, media: MediaKind) -> Input {
        match self.get(media) {
            Some(f) => Input::Any(f.consumer.clone()),
            None => Input::Absent,
        }
    }
    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        self.get(media).map(|f| f.output.clone())
    }
    fn on_input_bound(&self, media: MediaKind, upstream: Option<Arc<Output>>) {
        if let Some(f) = self.get(media) {
            f.bind(upstream);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
