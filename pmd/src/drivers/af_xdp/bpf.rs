//! Thin safe wrappers over `bpf(2)`: an XSKMAP (queue index → socket), the
//! steering program's load (the verifier's log in the error), and a
//! `bpf_link` that attaches it to an interface. Every object is an
//! [`OwnedFd`]: the kernel frees a map, a program or a link when its last
//! descriptor closes, which is what makes a killed process leave nothing
//! attached (the link is the only thing holding the program on the
//! interface).

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::sys::*;

/// Why a `bpf(2)` step failed.
#[derive(Debug)]
pub enum BpfError {
    /// The caller lacks CAP_BPF/CAP_NET_ADMIN (EPERM/EACCES).
    Permission(&'static str),
    /// The kernel has no `bpf(2)`, no XSKMAP or no XDP (ENOSYS, EINVAL on
    /// the map type).
    Unsupported(&'static str, io::Error),
    /// The verifier refused the program; its log.
    Verifier(io::Error, String),
    /// Another XDP program (or link) holds the interface in that mode.
    Busy(io::Error),
    /// Anything else, with the step.
    Other(&'static str, io::Error),
}

impl fmt::Display for BpfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BpfError::Permission(what) => {
                write!(f, "{what}: permission denied (needs CAP_BPF and CAP_NET_ADMIN: run as root)")
            }
            BpfError::Unsupported(what, e) => write!(f, "{what}: this kernel lacks it ({e})"),
            BpfError::Verifier(e, log) => write!(f, "the verifier refused the XDP program ({e}): {log}"),
            BpfError::Busy(e) => write!(f, "another XDP program is attached ({e})"),
            BpfError::Other(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for BpfError {}

fn classify(what: &'static str, e: io::Error) -> BpfError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => BpfError::Permission(what),
        Some(libc::ENOSYS) => BpfError::Unsupported(what, e),
        Some(libc::EBUSY) | Some(libc::EEXIST) => BpfError::Busy(e),
        _ => BpfError::Other(what, e),
    }
}

/// Runs `bpf(cmd, attr)`; returns a new descriptor for the commands that
/// make one, 0 for the others.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised block of the layout `cmd`
    // reads (sys.rs), its size given; the kernel reads (and for some
    // commands writes) only within it.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>() as libc::c_uint) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

fn fd_of(r: libc::c_long) -> OwnedFd {
    // SAFETY: the command returned a new descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as libc::c_int) }
}

/// An XSKMAP: entry `q` is the AF_XDP socket for receive queue `q`.
pub struct XskMap {
    fd: OwnedFd,
}

impl XskMap {
    /// A map with room for queues `0..entries`.
    pub fn create(entries: u32) -> Result<XskMap, BpfError> {
        let mut attr = bpf_map_create_attr {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: entries,
            ..Default::default()
        };
        attr.map_name[..9].copy_from_slice(b"ferrite_q");
        match bpf(BPF_MAP_CREATE, &mut attr) {
            Ok(r) => Ok(XskMap { fd: fd_of(r) }),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Err(BpfError::Unsupported("XSKMAP", e)),
            Err(e) => Err(classify("creating the XSKMAP", e)),
        }
    }

    /// Points entry `queue` at socket `xsk_fd`.
    pub fn set(&self, queue: u32, xsk_fd: &impl AsRawFd) -> Result<(), BpfError> {
        let key = queue;
        let value = xsk_fd.as_raw_fd() as u32;
        let mut attr = bpf_map_elem_attr {
            map_fd: self.fd.as_raw_fd() as u32,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            ..Default::default()
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop).map_err(|e| classify("filling the XSKMAP", e))
    }

    /// The map's descriptor, for the program's map reference.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// A loaded XDP program.
pub struct Program {
    fd: OwnedFd,
}

/// Bytes of verifier log asked for when a load fails.
const LOG_SIZE: usize = 64 * 1024;

impl Program {
    /// Loads `insns` as an XDP program named `name`.
    pub fn load_xdp(insns: &[bpf_insn], name: &str) -> Result<Program, BpfError> {
        match Self::load(insns, name, None) {
            Ok(p) => Ok(p),
            // Load again with a log to say why (the first load is quiet:
            // a log costs the verifier time and memory).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) => {
                let mut log = vec![0u8; LOG_SIZE];
                match Self::load(insns, name, Some(&mut log)) {
                    Ok(p) => Ok(p),
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(BpfError::Permission("loading XDP")),
                    Err(e) => Err(BpfError::Verifier(e, log_text(&log))),
                }
            }
            Err(e) => Err(classify("loading the XDP program", e)),
        }
    }

    fn load(insns: &[bpf_insn], name: &str, log: Option<&mut Vec<u8>>) -> io::Result<Program> {
        const LICENSE: &CStr = c"Dual MIT/GPL";
        let mut attr = bpf_prog_load_attr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            expected_attach_type: BPF_XDP,
            ..Default::default()
        };
        let n = name.len().min(15);
        attr.prog_name[..n].copy_from_slice(&name.as_bytes()[..n]);
        if let Some(buf) = log {
            attr.log_level = 1;
            attr.log_size = buf.len() as u32;
            attr.log_buf = buf.as_mut_ptr() as u64;
        }
        bpf(BPF_PROG_LOAD, &mut attr).map(|r| Program { fd: fd_of(r) })
    }
}

/// The verifier's log up to its NUL, trimmed to its last lines.
fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let text = String::from_utf8_lossy(&buf[..end]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}

/// An XDP attach mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver's receive path (`xdpdrv`).
    Native,
    /// On the socket buffer, after the driver (`xdpgeneric`).
    Generic,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        }
    }

    /// ip-link's name for it.
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }
}

/// A program attached to an interface through a `bpf_link`: detached when
/// this (the last descriptor) is dropped or the process dies.
pub struct XdpLink {
    _fd: OwnedFd,
    mode: XdpMode,
}

impl XdpLink {
    /// Attaches `prog` to interface `ifindex` in `mode`.
    pub fn attach(prog: &Program, ifindex: u32, mode: XdpMode) -> Result<XdpLink, BpfError> {
        let mut attr = bpf_link_create_attr {
            prog_fd: prog.fd.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: mode.flags(),
        };
        match bpf(BPF_LINK_CREATE, &mut attr) {
            Ok(r) => Ok(XdpLink { _fd: fd_of(r), mode }),
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                Err(BpfError::Unsupported(if mode == XdpMode::Native { "native XDP" } else { "generic XDP" }, e))
            }
            Err(e) => Err(classify("attaching the XDP program", e)),
        }
    }

    /// The mode it is attached in.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }
}

/// The name of loaded program `id` (as `bpftool prog show id N` shows it),
/// if it can be read.
pub fn program_name(id: u32) -> Option<String> {
    let mut by_id = bpf_get_fd_by_id_attr { prog_id: id, ..Default::default() };
    let fd = fd_of(bpf(BPF_PROG_GET_FD_BY_ID, &mut by_id).ok()?);
    let mut info = bpf_prog_info_head::default();
    let mut attr = bpf_obj_info_attr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<bpf_prog_info_head>() as u32,
        info: &mut info as *mut bpf_prog_info_head as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).ok()?;
    let end = info.name.iter().position(|&b| b == 0).unwrap_or(info.name.len());
    Some(String::from_utf8_lossy(&info.name[..end]).into_owned())
}
