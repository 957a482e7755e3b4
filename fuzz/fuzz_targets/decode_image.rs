#![no_main]

use idv::media::image::{decode_image, DecodeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // libfuzzer-sys aborts on every panic, even one that is caught and handled. decode_image
        // turns panics inside the decoder crates into `image_corrupt` on purpose, so those are only
        // logged; a panic in our own module, or one escaping decode_image, is still a crash.
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            if info.location().is_some_and(|l| l.file().ends_with("media/image.rs")) {
                std::process::abort();
            }
        }));
    },
    |data: &[u8]| {
        // Smaller limits than the service's defaults keep each run fast; the code paths are the same.
        let _ = decode_image(
            data,
            &DecodeLimits {
                max_bytes: 4 << 20,
                max_pixels: 4_000_000,
                max_side: 4096,
            },
        );
    }
);
