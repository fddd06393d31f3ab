//! The CPU side: the IDT (page faults, the timer), the 8259 PIC and the
//! PIT, the cycle counter, and leaving QEMU with a status.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

/// Vector of IRQ 0 (the PIT) after remapping the PIC.
const TIMER_VECTOR: u8 = 32;

static IDT: spin::Once<InterruptDescriptorTable> = spin::Once::new();

/// Timer ticks since `init`.
pub static TICKS: AtomicU64 = AtomicU64::new(0);

pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.page_fault.set_handler_fn(page_fault);
        idt.breakpoint.set_handler_fn(breakpoint);
        idt.general_protection_fault
            .set_handler_fn(general_protection);
        idt.double_fault.set_handler_fn(double_fault);
        idt[TIMER_VECTOR].set_handler_fn(timer);
        idt
    });
    idt.load();
    init_pic_and_pit();
    x86_64::instructions::interrupts::enable();
}

/// Remaps the 8259s to vectors 32..48, unmasks only IRQ 0, and runs the
/// PIT at about 1 kHz.
fn init_pic_and_pit() {
    let w = |port: u16, v: u8| {
        // SAFETY: the PIC and PIT ports; the kernel owns them.
        unsafe { Port::new(port).write(v) }
    };
    w(0x20, 0x11);
    w(0xA0, 0x11);
    w(0x21, TIMER_VECTOR);
    w(0xA1, TIMER_VECTOR + 8);
    w(0x21, 4);
    w(0xA1, 2);
    w(0x21, 0x01);
    w(0xA1, 0x01);
    w(0x21, 0xFE); // only IRQ 0
    w(0xA1, 0xFF);
    let divisor: u16 = 1193; // 1.193182 MHz / 1193 ≈ 1 kHz
    w(0x43, 0x36);
    w(0x40, divisor as u8);
    w(0x40, (divisor >> 8) as u8);
}

extern "x86-interrupt" fn timer(_: InterruptStackFrame) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    crate::vmalloc::on_timer();
    // SAFETY: end of interrupt for the master PIC.
    unsafe { Port::<u8>::new(0x20).write(0x20) }
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let addr = Cr2::read_raw() as usize;
    crate::vmalloc::on_page_fault(addr, code.bits(), frame.instruction_pointer.as_u64());
}

extern "x86-interrupt" fn breakpoint(_: InterruptStackFrame) {}

extern "x86-interrupt" fn general_protection(frame: InterruptStackFrame, code: u64) {
    crate::fail(format_args!(
        "general protection fault {code:#x} at {:#x}",
        frame.instruction_pointer.as_u64()
    ));
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, _: u64) -> ! {
    crate::fail(format_args!(
        "double fault at {:#x}",
        frame.instruction_pointer.as_u64()
    ));
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Leaves QEMU through `isa-debug-exit`: status `(code << 1) | 1`.
pub fn exit_qemu(code: u32) -> ! {
    // SAFETY: the debug-exit device QEMU is started with.
    unsafe { Port::new(0xf4).write(code) };
    loop {
        x86_64::instructions::hlt();
    }
}

/// Exit codes: 0x10 → QEMU exits 33 (pass), 0x11 → 35 (fail).
pub const PASS: u32 = 0x10;
pub const FAIL: u32 = 0x11;
