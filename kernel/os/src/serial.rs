//! COM1 (16550 UART at 0x3F8), polled; `println!` prints through it.

use core::fmt::{self, Write};
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3F8;

pub struct Serial;

impl Serial {
    /// 38400 baud, 8N1, FIFO on.
    pub fn init() {
        let out = |off: u16, v: u8| {
            // SAFETY: COM1's registers; the kernel owns the UART.
            unsafe { Port::new(COM1 + off).write(v) }
        };
        out(1, 0x00);
        out(3, 0x80);
        out(0, 0x03);
        out(1, 0x00);
        out(3, 0x03);
        out(2, 0xC7);
        out(4, 0x0B);
    }

    fn put(b: u8) {
        let mut lsr: Port<u8> = Port::new(COM1 + 5);
        // SAFETY: reading the line status register has no side effect.
        while unsafe { lsr.read() } & 0x20 == 0 {
            core::hint::spin_loop();
        }
        // SAFETY: the transmit register is empty.
        unsafe { Port::new(COM1).write(b) }
    }
}

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                Serial::put(b'\r');
            }
            Serial::put(b);
        }
        Ok(())
    }
}

/// One writer at a time (interrupt handlers never print).
pub static SERIAL: spin::Mutex<Serial> = spin::Mutex::new(Serial);

pub fn print(args: fmt::Arguments<'_>) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let _ = SERIAL.lock().write_fmt(args);
    });
}

#[macro_export]
macro_rules! println {
    ($($t:tt)*) => {{
        $crate::serial::print(format_args!($($t)*));
        $crate::serial::print(format_args!("\n"));
    }};
}
