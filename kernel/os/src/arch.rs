//! The CPU side: each CPU's own GDT, TSS (a double-fault stack) and IDT
//! (page faults, the timer, the shootdown IPI), the 8259 PIC and the PIT,
//! the cycle counter, and leaving QEMU with a status.

use crate::smp::MAX_CPUS;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;
use x86_64::instructions::segmentation::{Segment, CS, SS};
use x86_64::registers::control::Cr2;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// Vector of IRQ 0 (the PIT) after remapping the PIC.
const TIMER_VECTOR: u8 = 32;
/// The double-fault handler's stack (IST 1), per CPU.
const DOUBLE_FAULT_STACK: usize = 16 * 1024;

struct Tables {
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: [spin::Once<TaskStateSegment>; MAX_CPUS] = [const { spin::Once::new() }; MAX_CPUS];
static GDT: [spin::Once<Tables>; MAX_CPUS] = [const { spin::Once::new() }; MAX_CPUS];
static IDT: [spin::Once<InterruptDescriptorTable>; MAX_CPUS] =
    [const { spin::Once::new() }; MAX_CPUS];

/// Timer ticks since `init`.
pub static TICKS: AtomicU64 = AtomicU64::new(0);

/// Loads CPU `cpu`'s own GDT, TSS and IDT (its double-fault stack comes
/// from `vmalloc`, with a guard page).
pub fn init_cpu(cpu: usize) {
    let tss = TSS[cpu].call_once(|| {
        let stack = crate::vmalloc::vmalloc_forever(DOUBLE_FAULT_STACK)
            .unwrap_or_else(|| crate::fail(format_args!("no double-fault stack")));
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[0] = VirtAddr::new((stack.addr + stack.usable) as u64);
        tss
    });
    let t = GDT[cpu].call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        Tables {
            gdt,
            code,
            data,
            tss,
        }
    });
    t.gdt.load();
    // SAFETY: the selectors name this GDT's kernel code, data and TSS
    // entries, just loaded; the TSS is this CPU's and not yet busy.
    unsafe {
        CS::set_reg(t.code);
        SS::set_reg(t.data);
        x86_64::instructions::tables::load_tss(t.tss);
    }
    let idt = IDT[cpu].call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.page_fault.set_handler_fn(page_fault);
        idt.breakpoint.set_handler_fn(breakpoint);
        idt.general_protection_fault
            .set_handler_fn(general_protection);
        // SAFETY: IST 1 is set in this CPU's TSS above.
        unsafe {
            idt.double_fault
                .set_handler_fn(double_fault)
                .set_stack_index(0)
        };
        idt[TIMER_VECTOR].set_handler_fn(timer);
        idt[crate::shootdown::VECTOR].set_handler_fn(shootdown);
        idt[crate::smp::WAKE_VECTOR].set_handler_fn(wake);
        idt[crate::apic::SPURIOUS_VECTOR].set_handler_fn(spurious);
        idt
    });
    idt.load();
}

/// The boot CPU's tables, the PIC and the PIT; interrupts on.
pub fn init() {
    init_cpu(0);
    init_pic_and_pit();
    x86_64::instructions::interrupts::enable();
}

/// Sleeps at least `ms` timer ticks (about a millisecond each); boot CPU,
/// interrupts on.
pub fn sleep_ms(ms: u64) {
    let until = TICKS.load(Ordering::Relaxed) + ms + 1;
    while TICKS.load(Ordering::Relaxed) < until {
        x86_64::instructions::hlt();
    }
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

extern "x86-interrupt" fn shootdown(_: InterruptStackFrame) {
    crate::shootdown::on_ipi();
}

extern "x86-interrupt" fn wake(_: InterruptStackFrame) {
    crate::apic::eoi();
}

extern "x86-interrupt" fn spurious(_: InterruptStackFrame) {}

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
