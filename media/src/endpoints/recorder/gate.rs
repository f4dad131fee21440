//! Which buffers a recorder writes, and at what time in the file.
//!
//! Buffers arrive with the pipeline's running time. The file's timeline starts at 0 with the
//! first buffer written, a video stream starts at a keyframe (audio waits for it, up to
//! [`KEYFRAME_WAIT`], so that both start together), and a pause leaves no gap: the first buffer
//! after `record` resumes lands just after the last one written before the pause.
//! No GStreamer here, so the rules are unit-tested on their own.

use crate::api_contract::MediaKind;

/// Nanoseconds between the last buffer before a pause and the first one after it.
const RESUME_STEP: u64 = 20_000_000;

/// Longest audio waits for the first video keyframe of a recording (or of a resume) before the
/// file starts without it: a source that sends no video must not hold the audio back.
pub(super) const KEYFRAME_WAIT: u64 = 1_500_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not recording: every buffer is dropped.
    Closed,
    Open,
    Paused,
}

/// What to do with one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    Drop,
    /// Dropped because a video stream must start at a keyframe: ask the source for one.
    DropAwaitingKeyframe,
    /// Written at this file time; `first`: the first buffer of this recording.
    Write {
        pts: u64,
        first: bool,
    },
}

#[derive(Debug)]
pub(super) struct Gate {
    phase: Phase,
    /// Running time minus file time, set by the first buffer after `record` or a resume.
    shift: Option<u64>,
    /// End of the last buffer written (file time).
    written_until: u64,
    /// Last file time written per media (audio, video): each stream stays monotonic.
    last: [Option<u64>; 2],
    awaiting_keyframe: bool,
    /// Whether this recording has a video stream that audio should wait for.
    video: bool,
    /// Running time of the first buffer offered since `start` or the last resume.
    opened_at: Option<u64>,
    announced: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            phase: Phase::Closed,
            shift: None,
            written_until: 0,
            last: [None, None],
            awaiting_keyframe: true,
            video: false,
            opened_at: None,
            announced: false,
        }
    }
}

fn slot(media: MediaKind) -> usize {
    match media {
        MediaKind::Audio => 0,
        _ => 1,
    }
}

impl Gate {
    /// A new recording, from file time 0; `video`: whether it records a video stream.
    pub fn start(&mut self, video: bool) {
        *self = Gate {
            phase: Phase::Open,
            video,
            ..Gate::default()
        };
    }

    /// Starts the file over from 0 (a track was left out), without announcing it again.
    pub fn restart(&mut self, video: bool) {
        let announced = self.announced;
        self.start(video);
        self.announced = announced;
    }

    /// Whether anything of `media` was written since the last start.
    pub fn written(&self, media: MediaKind) -> bool {
        self.last[slot(media)].is_some()
    }

    pub fn pause(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Paused;
        }
    }

    /// Continues after a pause; the timeline goes on where it stopped.
    pub fn resume(&mut self) {
        if self.phase == Phase::Paused {
            self.phase = Phase::Open;
            self.shift = None;
            self.awaiting_keyframe = true;
            self.opened_at = None;
            self.announced = false;
        }
    }

    pub fn close(&mut self) {
        self.phase = Phase::Closed;
    }

    /// Decides on one buffer at running time `pts` (`keyframe` is true for audio).
    pub fn admit(
        &mut self,
        media: MediaKind,
        pts: u64,
        duration: Option<u64>,
        keyframe: bool,
    ) -> Admit {
        if self.phase != Phase::Open {
            return Admit::Drop;
        }
        let opened_at = *self.opened_at.get_or_insert(pts);
        if self.awaiting_keyframe {
            match media {
                MediaKind::Video if !keyframe => return Admit::DropAwaitingKeyframe,
                MediaKind::Video => self.awaiting_keyframe = false,
                _ if self.video && pts < opened_at + KEYFRAME_WAIT => return Admit::Drop,
                _ => {}
            }
        }
        let resume_at = match self.last.iter().flatten().max() {
            Some(_) => self.written_until + RESUME_STEP,
            None => 0,
        };
        let shift = *self
            .shift
            .get_or_insert_with(|| pts.saturating_sub(resume_at));
        // Earlier than the buffer that started the timeline (another stream's thread got there
        // first), or out of order: writing it would go back in time.
        if pts < shift {
            return Admit::Drop;
        }
        let out = pts - shift;
        let last = &mut self.last[slot(media)];
        if last.is_some_and(|l| out < l) {
            return Admit::Drop;
        }
        *last = Some(out);
        self.written_until = self.written_until.max(out + duration.unwrap_or(0));
        let first = !self.announced;
        self.announced = true;
        Admit::Write { pts: out, first }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    use MediaKind::{Audio, Video};

    fn written(a: Admit) -> u64 {
        match a {
            Admit::Write { pts, .. } => pts,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn nothing_is_written_before_record() {
        let mut g = Gate::default();
        assert_eq!(g.admit(Audio, 5 * MS, None, true), Admit::Drop);
    }

    #[test]
    fn the_file_starts_at_zero_on_a_keyframe() {
        let mut g = Gate::default();
        g.start(true);
        assert_eq!(
            g.admit(Video, 40_000 * MS, None, false),
            Admit::DropAwaitingKeyframe
        );
        assert_eq!(
            g.admit(Video, 40_033 * MS, None, true),
            Admit::Write {
                pts: 0,
                first: true
            }
        );
        assert_eq!(
            g.admit(Video, 40_066 * MS, None, false),
            Admit::Write {
                pts: 33 * MS,
                first: false
            }
        );
        // Audio joins on the same timeline; audio older than the start is dropped.
        assert_eq!(
            g.admit(Audio, 40_020 * MS, Some(20 * MS), true),
            Admit::Drop
        );
        assert_eq!(
            written(g.admit(Audio, 40_053 * MS, Some(20 * MS), true)),
            20 * MS
        );
    }

    #[test]
    fn a_pause_leaves_no_gap() {
        let mut g = Gate::default();
        g.start(false);
        written(g.admit(Audio, 1_000 * MS, Some(20 * MS), true));
        written(g.admit(Audio, 1_020 * MS, Some(20 * MS), true));
        g.pause();
        assert_eq!(g.admit(Audio, 1_040 * MS, Some(20 * MS), true), Admit::Drop);
        g.resume();
        // 5 s later in running time, 20 ms after the last written end in the file.
        let after = written(g.admit(Audio, 6_040 * MS, Some(20 * MS), true));
        assert_eq!(after, 40 * MS + RESUME_STEP);
    }

    #[test]
    fn audio_waits_for_the_video_keyframe() {
        let mut g = Gate::default();
        g.start(true);
        assert_eq!(g.admit(Audio, 1_000 * MS, Some(20 * MS), true), Admit::Drop);
        assert_eq!(
            g.admit(Video, 1_010 * MS, None, false),
            Admit::DropAwaitingKeyframe
        );
        assert_eq!(written(g.admit(Video, 1_100 * MS, None, true)), 0);
        assert_eq!(
            written(g.admit(Audio, 1_120 * MS, Some(20 * MS), true)),
            20 * MS
        );
        // After a pause, both wait for video's next keyframe again, with no gap.
        g.pause();
        g.resume();
        assert_eq!(g.admit(Audio, 9_000 * MS, Some(20 * MS), true), Admit::Drop);
        let resumed = written(g.admit(Video, 9_050 * MS, None, true));
        assert_eq!(resumed, 40 * MS + RESUME_STEP);
    }

    #[test]
    fn audio_starts_alone_when_no_keyframe_comes() {
        let mut g = Gate::default();
        g.start(true);
        assert_eq!(g.admit(Audio, 1_000 * MS, Some(20 * MS), true), Admit::Drop);
        let late = 1_000 * MS + KEYFRAME_WAIT;
        assert_eq!(written(g.admit(Audio, late, Some(20 * MS), true)), 0);
        // The video that comes later starts at its own place on the timeline.
        assert_eq!(
            written(g.admit(Video, late + 500 * MS, None, true)),
            500 * MS
        );
    }

    #[test]
    fn a_restart_is_not_announced_again() {
        let mut g = Gate::default();
        g.start(false);
        assert!(!g.written(Audio));
        written(g.admit(Audio, 100 * MS, Some(20 * MS), true));
        assert!(g.written(Audio) && !g.written(Video));
        g.restart(false);
        assert!(!g.written(Audio));
        assert_eq!(
            g.admit(Audio, 3_000 * MS, None, true),
            Admit::Write {
                pts: 0,
                first: false
            }
        );
    }

    #[test]
    fn streams_stay_monotonic() {
        let mut g = Gate::default();
        g.start(true);
        written(g.admit(Video, 100 * MS, None, true));
        written(g.admit(Video, 200 * MS, None, false));
        assert_eq!(g.admit(Video, 150 * MS, None, false), Admit::Drop);
    }

    #[test]
    fn a_new_recording_starts_over() {
        let mut g = Gate::default();
        g.start(false);
        written(g.admit(Audio, 100 * MS, Some(20 * MS), true));
        g.close();
        assert_eq!(g.admit(Audio, 120 * MS, None, true), Admit::Drop);
        g.start(false);
        assert_eq!(
            g.admit(Audio, 900 * MS, None, true),
            Admit::Write {
                pts: 0,
                first: true
            }
        );
    }
}
