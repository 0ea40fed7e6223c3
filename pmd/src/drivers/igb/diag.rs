//! ethtool's diagnostics for the 82576: NVM read (`-e`), self-test (`-t`)
//! and identify (`-p`).
//!
//! The self-test rows carry Linux igb's names so `ethtool -t` users read the
//! same table. What each row checks here:
//!
//! * register test: patterns written to registers the driver owns and that
//!   hold what is written (ring bases and lengths of all 16 queues, the
//!   receive address table, the multicast and VLAN tables), read back under
//!   the datasheet's writable-bit masks, the originals put back. A failure
//!   reports the register's offset, as Linux does;
//! * EEPROM test: words 0..=0x3F sum to [`NVM_SUM`] (code 2 if not, 1 if
//!   the NVM cannot be read);
//! * interrupt test: vector 0's cause raised through EICS while masked must
//!   not interrupt (code 1), and once unmasked must make the vector's
//!   eventfd readable (code 2);
//! * loopback test: frames through the MAC's loopback (`loopback.rs`);
//! * link test: STATUS.LU within [`LINK_WAIT`] (code 1).

use std::time::{Duration, Instant};

use ferrite_vfio::{IrqKind, VfioDevice};

use super::link::OTHER_VECTOR;
use super::mac::Hw;
use super::regs::*;
use crate::port::{PortError, SelfTestRow, TestResult};

/// How long the link test waits for STATUS.LU (Linux's igb waits 4 s too).
pub const LINK_WAIT: Duration = Duration::from_secs(4);
/// How long a masked cause is given to (wrongly) interrupt.
const MASKED_WAIT: Duration = Duration::from_millis(100);
/// How long an unmasked cause is given to interrupt.
const IRQ_WAIT: Duration = Duration::from_secs(2);
/// Half a blink period of `identify`: the LEDs are on, then off, this long.
const BLINK_HALF: Duration = Duration::from_millis(500);

/// The NVM's size in bytes, from EEC's size field.
pub fn nvm_len(hw: &Hw) -> usize {
    let size = (hw.read(EECD) & EECD_SIZE_EX_MASK) >> EECD_SIZE_EX_SHIFT;
    // The field is a power of two above 64 words; the 82576 addresses at
    // most 2^15 words, so larger values are capped there.
    let shift = (size + NVM_WORD_SIZE_BASE_SHIFT).min(15);
    (1usize << shift) * 2
}

/// `len` bytes of the NVM from byte `offset`, little-endian within words
/// (the order `ethtool -e` shows).
pub fn read_nvm(hw: &Hw, offset: usize, len: usize) -> Result<Vec<u8>, PortError> {
    let total = nvm_len(hw);
    if offset.checked_add(len).is_none_or(|end| end > total) {
        return Err(PortError::InvalidConfig(format!(
            "EEPROM range {offset:#x}+{len:#x} is past its end ({total:#x} bytes)"
        )));
    }
    let mut bytes = Vec::with_capacity(len);
    for word in offset / 2..(offset + len).div_ceil(2) {
        let w = hw
            .eeprom_read(word as u16)
            .ok_or_else(|| PortError::Device(format!("EERD read of word {word:#x} never completed")))?;
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    let skip = offset % 2;
    Ok(bytes[skip..skip + len].to_vec())
}

/// One register of the register test: its offset and writable bits.
struct RegCheck {
    off: u32,
    mask: u32,
}

/// The registers the test writes: all hold plain data while the port is
/// stopped, so writing them has no side effect once put back.
fn reg_checks() -> Vec<RegCheck> {
    let mut regs = Vec::new();
    for q in 0..16 {
        // Ring bases are 128-byte aligned and lengths a multiple of 128
        // bytes (bits 19:7), per the datasheet.
        for (off, mask) in [
            (rdbal(q), 0xFFFF_FF80),
            (rdbah(q), 0xFFFF_FFFF),
            (rdlen(q), 0x000F_FF80),
            (tdbal(q), 0xFFFF_FF80),
            (tdbah(q), 0xFFFF_FFFF),
            (tdlen(q), 0x000F_FF80),
        ] {
            regs.push(RegCheck { off, mask });
        }
    }
    // Receive address entry 0 holds the port's MAC; 1..15 are free. Only
    // the address bits of RAH are tested (AV and the pool bits steer
    // filtering).
    for n in 1..16 {
        regs.push(RegCheck { off: ral(n), mask: 0xFFFF_FFFF });
        regs.push(RegCheck { off: rah(n), mask: 0x0000_FFFF });
    }
    for i in 0..MTA_LEN {
        regs.push(RegCheck { off: MTA_BASE + 4 * i, mask: 0xFFFF_FFFF });
    }
    for i in 0..VFTA_LEN {
        regs.push(RegCheck { off: VFTA_BASE + 4 * i, mask: 0xFFFF_FFFF });
    }
    regs
}

/// Writes each pattern to each register and reads it back; the first
/// register that does not hold a pattern fails the test with its offset.
pub fn register_test(hw: &Hw) -> TestResult {
    const PATTERNS: [u32; 4] = [0x5A5A_5A5A, 0xA5A5_A5A5, 0x0000_0000, 0xFFFF_FFFF];
    for r in reg_checks() {
        let saved = hw.read(r.off);
        let bad = PATTERNS.iter().any(|&p| {
            hw.write(r.off, p & r.mask);
            hw.read(r.off) & r.mask != p & r.mask
        });
        hw.write(r.off, saved);
        if bad {
            return TestResult::Fail(u64::from(r.off));
        }
    }
    TestResult::Pass
}

/// The NVM checksum: words 0..=0x3F must sum to [`NVM_SUM`].
pub fn eeprom_test(hw: &Hw) -> TestResult {
    let mut sum = 0u16;
    for word in 0..NVM_CHECKSUM_WORDS {
        match hw.eeprom_read(word) {
            Some(w) => sum = sum.wrapping_add(w),
            None => return TestResult::Fail(1),
        }
    }
    if sum == NVM_SUM {
        TestResult::Pass
    } else {
        TestResult::Fail(2)
    }
}

/// Raises vector 0's cause with EICS, masked then unmasked, and watches
/// its MSI-X eventfd. Leaves every vector masked and MSI-X released.
pub fn interrupt_test(hw: &Hw, dev: Option<&VfioDevice>) -> TestResult {
    let Some(dev) = dev else {
        return TestResult::NotRun("no VFIO device: no interrupt to observe".into());
    };
    let fd = match dev.enable_irqs(IrqKind::Msix, 1) {
        Ok(mut fds) if !fds.is_empty() => fds.remove(0),
        Ok(_) => return TestResult::NotRun("VFIO gave no MSI-X vector".into()),
        Err(e) => return TestResult::NotRun(format!("no MSI-X vector: {e}")),
    };
    let saved = [GPIE, IVAR_MISC, EIAC, EIAM].map(|r| (r, hw.read(r)));
    let vector = 1u32 << OTHER_VECTOR;
    hw.write(GPIE, GPIE_MSIX_MODE | GPIE_PBA | GPIE_NSICR);
    hw.write(IVAR_MISC, (OTHER_VECTOR | IVAR_VALID) << 8);
    hw.write(EIAC, 0);
    hw.write(EIAM, 0);
    let result = raise_and_watch(hw, &fd, vector);
    hw.write(EIMC, !0);
    hw.write(EICR, !0);
    for (r, v) in saved {
        hw.write(r, v);
    }
    hw.flush();
    let _ = dev.disable_irqs(IrqKind::Msix);
    result
}

/// The two halves of the interrupt test, on a vector already routed.
fn raise_and_watch(hw: &Hw, fd: &ferrite_vfio::EventFd, vector: u32) -> TestResult {
    hw.write(EIMC, !0);
    hw.write(EICR, !0);
    hw.flush();
    let _ = fd.read();
    hw.write(EICS, vector);
    hw.flush();
    if matches!(fd.wait(MASKED_WAIT), Ok(Some(_))) {
        return TestResult::Fail(1);
    }
    hw.write(EICR, !0);
    let _ = fd.read();
    hw.write(EIMS, vector);
    hw.write(EICS, vector);
    hw.flush();
    match fd.wait(IRQ_WAIT) {
        Ok(Some(_)) => TestResult::Pass,
        _ => TestResult::Fail(2),
    }
}

/// Whether STATUS.LU comes up within [`LINK_WAIT`].
pub fn link_test(hw: &Hw) -> TestResult {
    let deadline = Instant::now() + LINK_WAIT;
    loop {
        if hw.link_status().up {
            return TestResult::Pass;
        }
        if Instant::now() >= deadline {
            return TestResult::Fail(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The online test: only the link row runs; the others are shown as not
/// run, where Linux would print 0.
pub fn online_rows(hw: &Hw) -> Vec<SelfTestRow> {
    let not_run = || TestResult::NotRun("offline test only".into());
    rows([not_run(), not_run(), not_run(), not_run(), link_test(hw)])
}

/// Linux igb's row names, in its order, with their results.
pub fn rows(results: [TestResult; 5]) -> Vec<SelfTestRow> {
    const NAMES: [&str; 5] = [
        "Register test  (offline)",
        "Eeprom test    (offline)",
        "Interrupt test (offline)",
        "Loopback test  (offline)",
        "Link test   (on/offline)",
    ];
    NAMES.iter().zip(results).map(|(name, result)| SelfTestRow { name: name.to_string(), result }).collect()
}

/// Blinks every LED (on, off, half a second each) for `duration`, then
/// puts LEDCTL back as it was.
pub fn identify(hw: &Hw, duration: Duration) {
    let saved = hw.read(LEDCTL);
    let end = Instant::now() + duration;
    let mut on = true;
    while Instant::now() < end {
        hw.write(LEDCTL, if on { LEDCTL_ALL_ON } else { LEDCTL_ALL_OFF });
        hw.flush();
        on = !on;
        std::thread::sleep(BLINK_HALF.min(end.saturating_duration_since(Instant::now())));
    }
    hw.write(LEDCTL, saved);
    hw.flush();
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::drivers::igb::mac::{Media, RegisterIo};

    /// A register file: plain storage, an NVM behind EERD, optional
    /// registers that keep only some bits, and a log of LEDCTL writes.
    #[derive(Clone, Default)]
    struct Regs {
        values: Arc<Mutex<HashMap<u32, u32>>>,
        nvm: Arc<Vec<u16>>,
        keeps: Arc<HashMap<u32, u32>>,
        leds: Arc<Mutex<Vec<u32>>>,
    }

    impl RegisterIo for Regs {
        fn read32(&self, off: u32) -> u32 {
            *self.values.lock().unwrap().get(&off).unwrap_or(&0)
        }

        fn write32(&self, off: u32, val: u32) {
            let val = match off {
                EERD => {
                    let word = (val >> EERD_ADDR_SHIFT) as usize;
                    EERD_DONE | u32::from(self.nvm.get(word).copied().unwrap_or(0xFFFF)) << EERD_DATA_SHIFT
                }
                LEDCTL => {
                    self.leds.lock().unwrap().push(val);
                    val
                }
                _ => val & self.keeps.get(&off).copied().unwrap_or(!0),
            };
            self.values.lock().unwrap().insert(off, val);
        }
    }

    fn hw(regs: &Regs) -> Hw {
        Hw::new(Box::new(regs.clone()), Media::of(0x10C9))
    }

    /// An NVM of 64 words whose checksum word makes the sum `sum`.
    fn nvm_summing_to(sum: u16) -> Vec<u16> {
        let mut words: Vec<u16> = (0..64u16).map(|i| i.wrapping_mul(0x1357)).collect();
        let rest = words[..63].iter().fold(0u16, |a, w| a.wrapping_add(*w));
        words[63] = sum.wrapping_sub(rest);
        words
    }

    #[test]
    fn eeprom_checksum_passes_only_at_0xbaba() {
        let good = Regs { nvm: Arc::new(nvm_summing_to(NVM_SUM)), ..Regs::default() };
        assert_eq!(eeprom_test(&hw(&good)), TestResult::Pass);
        let bad = Regs { nvm: Arc::new(nvm_summing_to(NVM_SUM.wrapping_add(1))), ..Regs::default() };
        assert_eq!(eeprom_test(&hw(&bad)), TestResult::Fail(2));
    }

    #[test]
    fn nvm_bytes_are_little_endian_words_from_any_byte_offset() {
        let regs = Regs { nvm: Arc::new(vec![0x5452, 0x0000, 0x011b]), ..Regs::default() };
        let hw = hw(&regs);
        assert_eq!(nvm_len(&hw), 128, "EEC size field 0: 64 words");
        assert_eq!(read_nvm(&hw, 1, 4).unwrap(), vec![0x54, 0x00, 0x00, 0x1b]);
        assert!(read_nvm(&hw, 127, 2).is_err(), "a range past the end is refused");
    }

    #[test]
    fn register_test_names_the_register_that_drops_bits() {
        let regs = Regs::default();
        regs.values.lock().unwrap().insert(MTA_BASE + 8, 0x1234);
        assert_eq!(register_test(&hw(&regs)), TestResult::Pass);
        assert_eq!(regs.read32(MTA_BASE + 8), 0x1234, "the original is put back");
        let stuck = Regs { keeps: Arc::new(HashMap::from([(MTA_BASE + 8, 0xFFFF)])), ..Regs::default() };
        assert_eq!(register_test(&hw(&stuck)), TestResult::Fail(u64::from(MTA_BASE + 8)));
    }

    #[test]
    fn identify_blinks_then_puts_ledctl_back() {
        let regs = Regs::default();
        regs.values.lock().unwrap().insert(LEDCTL, 0x0706_8302);
        identify(&hw(&regs), Duration::from_millis(1200));
        let leds = regs.leds.lock().unwrap().clone();
        assert!(leds.contains(&LEDCTL_ALL_ON) && leds.contains(&LEDCTL_ALL_OFF), "{leds:x?}");
        assert_eq!(regs.read32(LEDCTL), 0x0706_8302, "{leds:x?}");
    }
}
