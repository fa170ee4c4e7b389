//! Raw V4L2 calls the `v4l` crate does not offer for memory-to-memory devices (both queues of
//! one file descriptor, buffers queued and dequeued independently, single- or multi-planar),
//! wrapped as safe functions. This is the only module of the HAL with `unsafe` code: every
//! `unsafe` block is an `ioctl` on a `#[repr(C)]` struct from the kernel headers (bindings
//! from `v4l`'s `v4l2-sys`), or the `mmap`/`munmap` of a buffer the driver described, and
//! says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::os::raw::{c_int, c_void};

use nix::sys::mman::{MapFlags, ProtFlags};
use v4l::v4l_sys::{
    v4l2_buffer, v4l2_encoder_cmd, v4l2_fmtdesc, v4l2_format, v4l2_plane, v4l2_requestbuffers,
    v4l2_streamparm,
};
use v4l::v4l2::{self, vidioc};

/// V4L2 buffer types used here.
pub const BUF_VIDEO_CAPTURE: u32 = 1;
/// Raw frames into an encoder (single-planar).
pub const BUF_VIDEO_OUTPUT: u32 = 2;
/// Multi-planar capture queue.
pub const BUF_VIDEO_CAPTURE_MPLANE: u32 = 9;
/// Multi-planar output queue.
pub const BUF_VIDEO_OUTPUT_MPLANE: u32 = 10;
const MEMORY_MMAP: u32 = 1;

/// Whether a buffer type is multi-planar.
fn is_mplane(kind: u32) -> bool {
    kind == BUF_VIDEO_CAPTURE_MPLANE || kind == BUF_VIDEO_OUTPUT_MPLANE
}

fn ioctl<T>(fd: c_int, request: vidioc::_IOC_TYPE, arg: &mut T) -> io::Result<()> {
    // SAFETY: every caller passes the struct type the request code is defined with (the
    // `vidioc` constants encode its size), as an exclusive reference valid for the call.
    unsafe { v4l2::ioctl(fd, request, arg as *mut T as *mut c_void) }
}

fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for the kernel's plain-data `#[repr(C)]` structs (integers, arrays
    // and unions of them, raw pointers), for which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

/// The pixel formats a queue offers (fourcc codes).
pub fn formats(fd: c_int, kind: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for index in 0..64 {
        let mut desc: v4l2_fmtdesc = zeroed();
        desc.index = index;
        desc.type_ = kind;
        if ioctl(fd, vidioc::VIDIOC_ENUM_FMT, &mut desc).is_err() {
            break;
        }
        out.push(desc.pixelformat);
    }
    out
}

/// The format a queue settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneFormat {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Fourcc.
    pub pixelformat: u32,
    /// Bytes per luma row.
    pub bytesperline: u32,
    /// Bytes of one buffer.
    pub sizeimage: u32,
}

/// VIDIOC_S_FMT with one plane; answers what the driver chose.
pub fn set_format(fd: c_int, kind: u32, wanted: PlaneFormat) -> io::Result<PlaneFormat> {
    let mut format: v4l2_format = zeroed();
    format.type_ = kind;
    // SAFETY (union writes and reads below): `pix_mp` is the member for multi-planar types,
    // `pix` for single-planar ones, as the kernel reads them; both are plain data.
    if is_mplane(kind) {
        let pix = unsafe { &mut format.fmt.pix_mp };
        pix.width = wanted.width;
        pix.height = wanted.height;
        pix.pixelformat = wanted.pixelformat;
        pix.num_planes = 1;
        pix.plane_fmt[0].sizeimage = wanted.sizeimage;
    } else {
        let pix = unsafe { &mut format.fmt.pix };
        pix.width = wanted.width;
        pix.height = wanted.height;
        pix.pixelformat = wanted.pixelformat;
        pix.sizeimage = wanted.sizeimage;
    }
    ioctl(fd, vidioc::VIDIOC_S_FMT, &mut format)?;
    Ok(if is_mplane(kind) {
        let pix = unsafe { &format.fmt.pix_mp };
        PlaneFormat {
            width: pix.width,
            height: pix.height,
            pixelformat: pix.pixelformat,
            bytesperline: pix.plane_fmt[0].bytesperline,
            sizeimage: pix.plane_fmt[0].sizeimage,
        }
    } else {
        let pix = unsafe { &format.fmt.pix };
        PlaneFormat {
            width: pix.width,
            height: pix.height,
            pixelformat: pix.pixelformat,
            bytesperline: pix.bytesperline,
            sizeimage: pix.sizeimage,
        }
    })
}

/// VIDIOC_S_PARM on the output queue: the frame rate the encoder budgets its bit rate for.
pub fn set_frame_rate(fd: c_int, kind: u32, fps: u32) -> io::Result<()> {
    let mut parm: v4l2_streamparm = zeroed();
    parm.type_ = kind;
    // SAFETY: `output` is the member for output queues; plain data.
    let out = unsafe { &mut parm.parm.output };
    out.timeperframe.numerator = 1;
    out.timeperframe.denominator = fps.max(1);
    ioctl(fd, vidioc::VIDIOC_S_PARM, &mut parm)
}

/// VIDIOC_STREAMON / VIDIOC_STREAMOFF.
pub fn stream(fd: c_int, kind: u32, on: bool) -> io::Result<()> {
    let mut kind = kind as c_int;
    let request = if on {
        vidioc::VIDIOC_STREAMON
    } else {
        vidioc::VIDIOC_STREAMOFF
    };
    ioctl(fd, request, &mut kind)
}

/// VIDIOC_ENCODER_CMD STOP: drain the encoder.
pub fn encoder_stop(fd: c_int) -> io::Result<()> {
    let mut cmd: v4l2_encoder_cmd = zeroed();
    cmd.cmd = v4l::v4l_sys::V4L2_ENC_CMD_STOP;
    ioctl(fd, vidioc::VIDIOC_ENCODER_CMD, &mut cmd)
}

/// One memory-mapped buffer of a queue.
pub struct MappedBuffer {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone (no aliasing copies exist); the device
// writes it only while the buffer is queued, when no slice of it is handed out.
unsafe impl Send for MappedBuffer {}

impl MappedBuffer {
    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` bytes until drop.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The mapped bytes, to fill an output buffer.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only live slice.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for MappedBuffer {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `request_buffers`.
        let _ = unsafe { v4l2::munmap(self.ptr as *mut c_void, self.len) };
    }
}

fn buffer_desc(kind: u32, index: u32, plane: &mut v4l2_plane) -> v4l2_buffer {
    let mut buf: v4l2_buffer = zeroed();
    buf.type_ = kind;
    buf.memory = MEMORY_MMAP;
    buf.index = index;
    if is_mplane(kind) {
        buf.m.planes = plane as *mut v4l2_plane;
        buf.length = 1;
    }
    buf
}

/// VIDIOC_REQBUFS + VIDIOC_QUERYBUF + mmap: `count` buffers of a queue (the driver may give
/// more or fewer). `count` 0 frees them (the mappings must be dropped first).
pub fn request_buffers(fd: c_int, kind: u32, count: u32) -> io::Result<Vec<MappedBuffer>> {
    let mut req: v4l2_requestbuffers = zeroed();
    req.count = count;
    req.type_ = kind;
    req.memory = MEMORY_MMAP;
    ioctl(fd, vidioc::VIDIOC_REQBUFS, &mut req)?;
    let mut buffers = Vec::with_capacity(req.count as usize);
    for index in 0..req.count {
        let mut plane: v4l2_plane = zeroed();
        let mut buf = buffer_desc(kind, index, &mut plane);
        ioctl(fd, vidioc::VIDIOC_QUERYBUF, &mut buf)?;
        // SAFETY: the union member the driver filled depends on the buffer type.
        let (len, offset) = if is_mplane(kind) {
            (plane.length as usize, unsafe { plane.m.mem_offset })
        } else {
            (buf.length as usize, unsafe { buf.m.offset })
        };
        // SAFETY: maps the region the driver just described for this fd (length and
        // offset from QUERYBUF), shared read/write as V4L2 MMAP streaming requires.
        let ptr = unsafe {
            v4l2::mmap(
                std::ptr::null_mut(),
                len,
                (ProtFlags::PROT_READ | ProtFlags::PROT_WRITE).bits(),
                MapFlags::MAP_SHARED.bits(),
                fd,
                offset as _,
            )?
        };
        buffers.push(MappedBuffer {
            ptr: ptr as *mut u8,
            len,
        });
    }
    Ok(buffers)
}

/// What VIDIOC_DQBUF returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dequeued {
    /// Buffer index.
    pub index: u32,
    /// Bytes of payload.
    pub bytesused: u32,
    /// `V4L2_BUF_FLAG_*`.
    pub flags: u32,
    /// Driver's sequence counter.
    pub sequence: u32,
}

/// VIDIOC_QBUF of buffer `index` with `bytesused` payload bytes.
pub fn queue(fd: c_int, kind: u32, index: u32, bytesused: u32) -> io::Result<()> {
    let mut plane: v4l2_plane = zeroed();
    // The payload size goes in the plane before `buf` points at it (no write through the
    // place behind the descriptor's pointer afterwards).
    plane.bytesused = bytesused;
    let mut buf = buffer_desc(kind, index, &mut plane);
    if !is_mplane(kind) {
        buf.bytesused = bytesused;
    }
    ioctl(fd, vidioc::VIDIOC_QBUF, &mut buf)
}

/// VIDIOC_DQBUF; `Ok(None)` when no buffer is ready (the fd is non-blocking).
pub fn dequeue(fd: c_int, kind: u32) -> io::Result<Option<Dequeued>> {
    let mut plane: v4l2_plane = zeroed();
    let mut buf = buffer_desc(kind, 0, &mut plane);
    match ioctl(fd, vidioc::VIDIOC_DQBUF, &mut buf) {
        Ok(()) => Ok(Some(Dequeued {
            index: buf.index,
            bytesused: if is_mplane(kind) {
                plane.bytesused
            } else {
                buf.bytesused
            },
            flags: buf.flags,
            sequence: buf.sequence,
        })),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(err) => Err(err),
    }
}
