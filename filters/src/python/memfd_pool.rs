//! Video buffers in memfd memory, so that a Python filter process maps the frame's own pixels:
//! `rheopythonfilter` proposes this pool upstream, and the converter before it writes each
//! frame straight into memory the filter's process shares.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_allocators::prelude::*;
use once_cell::sync::Lazy;
use parking_lot::Mutex;

/// A new memfd of `size` bytes.
pub fn memfd(size: usize) -> std::io::Result<OwnedFd> {
    // SAFETY: memfd_create with a static NUL-terminated name; the descriptor is owned here.
    let fd = unsafe { libc::memfd_create(c"rheo-frame".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just created.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a valid descriptor.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// A stable name for the file behind `fd` while anyone has it open or mapped: its inode.
pub fn file_key(fd: RawFd) -> Option<u64> {
    // SAFETY: fstat fills the struct for a valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st.st_ino)
}

glib::wrapper! {
    /// A buffer pool of video frames in memfd memory.
    pub struct MemfdPool(ObjectSubclass<imp::MemfdPool>)
        @extends gst::BufferPool, gst::Object;
}

impl MemfdPool {
    /// A pool, to be configured with the caps it serves.
    pub fn new() -> MemfdPool {
        glib::Object::new()
    }
}

impl Default for MemfdPool {
    fn default() -> Self {
        Self::new()
    }
}

static ALLOCATOR: Lazy<gst_allocators::FdAllocator> = Lazy::new(|| {
    gst_allocators::FdAllocator::new()
        .downcast()
        .expect("an FdAllocator")
});

/// One buffer of `info`'s size in a new memfd, with its video meta.
pub fn allocate(info: &gst_video::VideoInfo) -> Result<gst::Buffer, gst::FlowError> {
    let size = info.size();
    let fd = memfd(size).map_err(|_| gst::FlowError::Error)?;
    // SAFETY: the allocator takes ownership of the descriptor and closes it with the memory.
    // KEEP_MAPPED: mapped once for the buffer's life, not at every map (each new mapping would
    // fault every page of the frame in again, three times a frame).
    let memory = unsafe {
        ALLOCATOR.alloc_fd(
            fd.into_raw_fd(),
            size,
            gst_allocators::FdMemoryFlags::KEEP_MAPPED,
        )
    }
    .map_err(|_| gst::FlowError::Error)?;
    let mut buffer = gst::Buffer::new();
    {
        let b = buffer.get_mut().expect("a new buffer is writable");
        b.append_memory(memory);
        gst_video::VideoMeta::add_full(
            b,
            gst_video::VideoFrameFlags::empty(),
            info.format(),
            info.width(),
            info.height(),
            info.offset(),
            info.stride(),
        )
        .map_err(|_| gst::FlowError::Error)?;
    }
    Ok(buffer)
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct MemfdPool {
        info: Mutex<Option<gst_video::VideoInfo>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MemfdPool {
        const NAME: &'static str = "GstRheoMemfdPool";
        type Type = super::MemfdPool;
        type ParentType = gst::BufferPool;
    }

    impl ObjectImpl for MemfdPool {}
    impl GstObjectImpl for MemfdPool {}

    impl BufferPoolImpl for MemfdPool {
        fn options() -> &'static [&'static str] {
            static OPTIONS: [&str; 1] = ["GstBufferPoolOptionVideoMeta"];
            &OPTIONS
        }

        fn set_config(&self, config: &mut gst::BufferPoolConfigRef) -> bool {
            let Some((Some(caps), _, _, _)) = config.params() else {
                return false;
            };
            let Ok(info) = gst_video::VideoInfo::from_caps(&caps) else {
                return false;
            };
            *self.info.lock() = Some(info);
            self.parent_set_config(config)
        }

        fn alloc_buffer(
            &self,
            _params: Option<&gst::BufferPoolAcquireParams>,
        ) -> Result<gst::Buffer, gst::FlowError> {
            let info = self
                .info
                .lock()
                .clone()
                .ok_or(gst::FlowError::NotNegotiated)?;
            allocate(&info)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_buffers_are_memfd_memory_mappable_for_writing() {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgr, 64, 48)
            .build()
            .unwrap();
        let pool = MemfdPool::new();
        let mut config = pool.config();
        config.set_params(Some(&info.to_caps().unwrap()), info.size() as u32, 2, 0);
        pool.set_config(config).unwrap();
        pool.set_active(true).unwrap();
        let mut buffer = pool.acquire_buffer(None).unwrap();
        {
            let b = buffer.get_mut().unwrap();
            let mut w = b.map_writable().unwrap();
            w[0] = 7;
        }
        let b = buffer.get_mut().unwrap();
        let mem = b.peek_memory(0);
        assert!(mem
            .downcast_memory_ref::<gst_allocators::FdMemory>()
            .is_some());
        // Mapped as a video frame for reading and writing, it stays memfd memory (no copy).
        drop(gst_video::VideoFrameRef::from_buffer_ref_writable(&mut *b, &info).unwrap());
        let mem = b.peek_memory(0);
        assert!(mem
            .downcast_memory_ref::<gst_allocators::FdMemory>()
            .is_some());
    }
}
