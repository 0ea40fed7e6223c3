//! The steering program: frames of receive queue `q` go to the AF_XDP
//! socket in XSKMAP entry `q`; a queue with no socket passes its frames to
//! the kernel's stack.
//!
//! # Why it is assembled here
//!
//! The issue asks that it build and load on a fresh machine from registry
//! packages and crates alone. The options weighed:
//! * **libxdp/libbpf through a Rust binding** (`libbpf-rs`, `libxdp-sys`):
//!   the crates build libbpf's C sources (`libbpf-sys` vendors them, and
//!   wants a C compiler, libelf and zlib headers at build time), and the
//!   program itself is C compiled by clang to an object file — none of it
//!   on a fresh Debian machine. libxdp's dispatcher (several programs on
//!   one interface) is more than one socket map needs.
//! * **aya** (pure Rust loader): no C at build time for the loader, but the
//!   program is still an eBPF object built by a separate nightly toolchain
//!   (`bpf-linker`), or shipped as prebuilt bytes in the repository.
//! * **a tiny program assembled in code**: five instructions, written
//!   below with the kernel's encoding; `bpf(2)` is three commands
//!   (`bpf.rs`). Nothing to build, nothing downloaded, the bytes are
//!   reviewable, and a test loads them so the verifier is the judge.
//!
//! The third is what ferrite does. The program calls
//! `bpf_redirect_map(map, ctx->rx_queue_index, XDP_PASS)`: the flags'
//! low bits are the verdict when the entry is empty (Linux 5.3+), so no
//! lookup is needed first.

use super::sys::*;

/// Registers of the eBPF calling convention.
const R0_RET: u8 = 0;
const R1_CTX: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> bpf_insn {
    bpf_insn { code, regs: dst | (src << 4), off, imm }
}

/// The program's instructions for the XSKMAP whose descriptor is `map_fd`
/// (the kernel swaps the descriptor for the map at load).
pub fn steering_program(map_fd: i32) -> [bpf_insn; 6] {
    [
        // r2 = ctx->rx_queue_index (32-bit load from the xdp_md context)
        insn(BPF_LDX | BPF_MEM | BPF_W, R2, R1_CTX, XDP_MD_RX_QUEUE_INDEX, 0),
        // r1 = the map (a two-slot 64-bit immediate load marked as a map fd)
        insn(BPF_LD | BPF_DW | BPF_IMM, R1_CTX, BPF_PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        // r3 = XDP_PASS, the verdict for a queue without a socket
        insn(BPF_ALU64 | BPF_MOV | BPF_K, R3, 0, 0, XDP_PASS),
        // r0 = bpf_redirect_map(r1, r2, r3)
        insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        // return r0
        insn(BPF_JMP | BPF_EXIT, R0_RET, 0, 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_the_kernels() {
        let p = steering_program(7);
        // Opcodes as bpf_common.h composes them: ldxw 0x61, lddw 0x18,
        // mov64 imm 0xb7, call 0x85, exit 0x95.
        let codes: Vec<u8> = p.iter().map(|i| i.code).collect();
        assert_eq!(codes, [0x61, 0x18, 0x00, 0xb7, 0x85, 0x95]);
        assert_eq!((p[0].regs, p[0].off), (0x12, 16), "r2 = *(u32 *)(r1 + 16)");
        assert_eq!((p[1].regs, p[1].imm), (0x11, 7), "r1 = map fd 7, src = BPF_PSEUDO_MAP_FD");
        assert_eq!((p[3].regs, p[3].imm), (0x03, 2), "r3 = XDP_PASS");
        assert_eq!(p[4].imm, 51, "bpf_redirect_map");
        assert_eq!(std::mem::size_of_val(&p), 6 * 8);
    }
}
