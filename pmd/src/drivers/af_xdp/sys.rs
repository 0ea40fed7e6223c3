//! Kernel ABI the `libc` crate lacks, with the headers' names:
//! `bpf(2)`'s attribute blocks (`include/uapi/linux/bpf.h`), the
//! instruction encoding, and ethtool's channel and driver-info commands
//! (`include/uapi/linux/ethtool.h`). Each attribute block is the prefix of
//! `union bpf_attr` that one command reads; the kernel takes a shorter
//! block than its own and treats the rest as zero.

#![allow(non_camel_case_types)]

/// `enum bpf_cmd` values used here.
pub const BPF_MAP_CREATE: libc::c_int = 0;
pub const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
pub const BPF_PROG_LOAD: libc::c_int = 5;
pub const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
pub const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
pub const BPF_LINK_CREATE: libc::c_int = 28;

/// `enum bpf_map_type`: a map from queue index to AF_XDP socket.
pub const BPF_MAP_TYPE_XSKMAP: u32 = 17;
/// `enum bpf_prog_type`.
pub const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`.
pub const BPF_XDP: u32 = 37;

/// `XDP_FLAGS_*` (`include/uapi/linux/if_link.h`): attach modes.
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// XDP verdicts (`enum xdp_action`).
pub const XDP_PASS: i32 = 2;

/// `BPF_FUNC_redirect_map`.
pub const BPF_FUNC_REDIRECT_MAP: i32 = 51;

/// `struct xdp_md` field offsets.
pub const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

/// `BPF_PSEUDO_MAP_FD`: the immediate of a 64-bit load is a map fd.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;

/// Instruction classes, sizes, modes and operations (`bpf_common.h`).
pub const BPF_LD: u8 = 0x00;
pub const BPF_LDX: u8 = 0x01;
pub const BPF_JMP: u8 = 0x05;
pub const BPF_ALU64: u8 = 0x07;
pub const BPF_W: u8 = 0x00;
pub const BPF_DW: u8 = 0x18;
pub const BPF_IMM: u8 = 0x00;
pub const BPF_MEM: u8 = 0x60;
pub const BPF_MOV: u8 = 0xb0;
pub const BPF_K: u8 = 0x00;
pub const BPF_CALL: u8 = 0x80;
pub const BPF_EXIT: u8 = 0x90;

/// `struct bpf_insn`: opcode, dst (low nibble) and src (high nibble)
/// registers, offset, immediate.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct bpf_insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// `BPF_MAP_CREATE`'s block.
#[repr(C)]
#[derive(Default)]
pub struct bpf_map_create_attr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
}

/// `BPF_MAP_UPDATE_ELEM`'s block.
#[repr(C)]
#[derive(Default)]
pub struct bpf_map_elem_attr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

/// `BPF_PROG_LOAD`'s block.
#[repr(C)]
#[derive(Default)]
pub struct bpf_prog_load_attr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
}

/// `BPF_PROG_GET_FD_BY_ID`'s block.
#[repr(C)]
#[derive(Default)]
pub struct bpf_get_fd_by_id_attr {
    pub prog_id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD`'s block.
#[repr(C)]
#[derive(Default)]
pub struct bpf_obj_info_attr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

/// The prefix of `struct bpf_prog_info` up to the name.
#[repr(C)]
#[derive(Default)]
pub struct bpf_prog_info_head {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; 16],
}

/// rtnetlink: `IFLA_XDP` and its nested `IFLA_XDP_PROG_ID`.
pub const IFLA_XDP: u16 = 43;
pub const IFLA_XDP_PROG_ID: u16 = 4;
/// `RTM_GETLINK` / `RTM_NEWLINK`.
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWLINK: u16 = 16;

/// `BPF_LINK_CREATE`'s block (no target-specific part).
#[repr(C)]
#[derive(Default)]
pub struct bpf_link_create_attr {
    pub prog_fd: u32,
    pub target_ifindex: u32,
    pub attach_type: u32,
    pub flags: u32,
}

/// `SIOCETHTOOL` and the commands used here.
pub const SIOCETHTOOL: libc::c_ulong = 0x8946;
pub const ETHTOOL_GDRVINFO: u32 = 0x03;
pub const ETHTOOL_GCHANNELS: u32 = 0x3c;
pub const ETHTOOL_SCHANNELS: u32 = 0x3d;

/// `struct ethtool_channels`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ethtool_channels {
    pub cmd: u32,
    pub max_rx: u32,
    pub max_tx: u32,
    pub max_other: u32,
    pub max_combined: u32,
    pub rx_count: u32,
    pub tx_count: u32,
    pub other_count: u32,
    pub combined_count: u32,
}

/// `struct ethtool_drvinfo`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ethtool_drvinfo {
    pub cmd: u32,
    pub driver: [u8; 32],
    pub version: [u8; 32],
    pub fw_version: [u8; 32],
    pub bus_info: [u8; 32],
    pub erom_version: [u8; 32],
    pub reserved2: [u8; 12],
    pub n_priv_flags: u32,
    pub n_stats: u32,
    pub testinfo_len: u32,
    pub eedump_len: u32,
    pub regdump_len: u32,
}

/// `XDP_UMEM_MIN_CHUNK_SIZE`: the smallest UMEM chunk the kernel takes.
pub const XDP_UMEM_MIN_CHUNK_SIZE: usize = 2048;
/// `XDP_PACKET_HEADROOM`: what the kernel leaves before a received frame.
pub const XDP_PACKET_HEADROOM: usize = 256;
/// `XSK_UNALIGNED_BUF_OFFSET_SHIFT`: in unaligned-chunk mode a descriptor
/// address is the chunk's address in the low 48 bits and the data's offset
/// into the chunk above them.
pub const XSK_UNALIGNED_BUF_OFFSET_SHIFT: u32 = 48;
/// The low 48 bits of such an address.
pub const XSK_UNALIGNED_BUF_ADDR_MASK: u64 = (1 << XSK_UNALIGNED_BUF_OFFSET_SHIFT) - 1;

// <linux/if_packet.rs>: packet socket memberships.
pub const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
pub const PACKET_MR_PROMISC: u16 = 1;
pub const PACKET_MR_ALLMULTI: u16 = 2;

#[repr(C)]
#[derive(Default)]
pub struct packet_mreq {
    pub mr_ifindex: libc::c_int,
    pub mr_type: u16,
    pub mr_alen: u16,
    pub mr_address: [u8; 8],
}
