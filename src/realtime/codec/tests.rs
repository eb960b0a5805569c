use std::time::Duration;

use super::*;

const W: u32 = 1280;
const H: u32 = 720;

/// A test picture: a diagonal luma ramp (a triangle wave, no hard edges) that
/// scrolls 6 pixels a frame, a flat bright square that moves across it, and chroma ramps.
fn pattern(width: u32, height: u32, t: u32) -> I420Picture {
    let (w, h) = (width as usize, height as usize);
    let t = t as usize;
    let mut picture = I420Picture::new(width, height).unwrap();
    let [y, u, v] = picture.planes_mut();
    let side = (w.min(h) / 4).min(160);
    let (sx, sy) = ((40 + 12 * t) % (w - side), (60 + 7 * t) % (h - side));
    for row in 0..h {
        for col in 0..w {
            let ramp = (col + row / 2 + 6 * t) % 510;
            let mut luma = if ramp > 255 { 509 - ramp } else { ramp };
            luma = 16 + luma * 219 / 255;
            if (sx..sx + side).contains(&col) && (sy..sy + side).contains(&row) {
                luma = 220;
            }
            y[row * w + col] = luma as u8;
        }
    }
    for row in 0..h / 2 {
        for col in 0..w / 2 {
            u[row * (w / 2) + col] = (64 + (col + t) * 128 / (w / 2)) as u8;
            v[row * (w / 2) + col] = (64 + row * 128 / (h / 2)) as u8;
        }
    }
    picture
}

/// Peak signal-to-noise ratio of two luma planes of packed pictures, in dB.
fn psnr_luma(a: &I420Picture, b: &I420Picture) -> f64 {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let sse: f64 = a
        .y()
        .iter()
        .zip(b.y())
        .map(|(&p, &q)| {
            let d = f64::from(p) - f64::from(q);
            d * d
        })
        .sum();
    let mse = sse / a.y().len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0 * 255.0 / mse).log10()
}

fn at(frame: u32) -> Duration {
    Duration::from_micros(u64::from(frame) * 1_000_000 / 30)
}

fn types(frame: &VideoFrame) -> Vec<u8> {
    nal_unit_types(frame.data()).collect()
}

fn field(e: &Error) -> &str {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn round_trip_720p_sequence() {
    let mut encoder = H264Encoder::new(W, H, EncoderOptions::new()).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let mut worst = f64::INFINITY;
    let mut bytes = 0;
    for i in 0..30 {
        let input = pattern(W, H, i);
        let frame = encoder.encode(&input, at(i)).unwrap();
        assert_eq!(frame.timestamp(), at(i));
        assert!(
            frame.data().starts_with(&[0, 0, 0, 1]),
            "Annex B with start codes"
        );
        bytes += frame.data().len();
        let kinds = types(&frame);
        if i == 0 {
            // SPS, PPS, then the IDR slice.
            assert_eq!(kinds, [7, 8, 5], "first frame");
            assert!(is_keyframe(&frame));
            // Baseline profile (66) with constraint_set1 (Constrained Baseline), level >= 3.1
            // for 720p30.
            let sps = &frame.data()[4..];
            assert_eq!(sps[0] & 0x1f, 7);
            assert_eq!(sps[1], 66, "profile_idc");
            assert!(sps[2] & 0x40 != 0, "constraint_set1_flag: {:#x}", sps[2]);
            assert!(sps[3] >= 31, "level_idc {}", sps[3]);
        } else {
            assert_eq!(kinds, [1], "frame {i} is one non-IDR slice");
            assert!(!is_keyframe(&frame));
        }
        let output = decoder
            .decode(&frame)
            .unwrap()
            .unwrap_or_else(|| panic!("frame {i} decodes at once"));
        assert_eq!((output.width(), output.height()), (W, H));
        assert_eq!(output.strides(), [1280, 640, 640]);
        assert_eq!(output.data().len(), 1280 * 720 * 3 / 2);
        let psnr = psnr_luma(&input, &output);
        worst = worst.min(psnr);
        // Chroma too: mean absolute error of U.
        let mae_u: f64 = input
            .u()
            .iter()
            .zip(output.u())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / input.u().len() as f64;
        assert!(mae_u < 3.0, "frame {i}: U mean abs error {mae_u}");
    }
    assert!(worst > 30.0, "worst luma PSNR {worst:.1} dB");
    assert_eq!(encoder.frames_encoded(), 30);
    assert_eq!(decoder.frames_decoded(), 30);
    // 2.5 Mbit/s for one second of video, within a generous margin (the first frame is big).
    assert!(bytes < 2 * 2_500_000 / 8, "{bytes} bytes for 30 frames");
}

#[test]
fn keyframes_periodic_and_forced() {
    let options = EncoderOptions::new().keyframe_interval(10);
    let mut encoder = H264Encoder::new(320, 240, options).unwrap();
    // Forcing before the first frame is harmless.
    encoder.force_keyframe();
    let mut keyframes = Vec::new();
    for i in 0..25 {
        if i == 14 {
            encoder.force_keyframe();
        }
        let frame = encoder.encode(&pattern(320, 240, i), at(i)).unwrap();
        if is_keyframe(&frame) {
            assert_eq!(&types(&frame)[..2], [7, 8], "frame {i}: SPS and PPS first");
            keyframes.push(i);
        }
    }
    // OpenH264 counts the period from the last IDR, forced ones included.
    assert_eq!(keyframes, [0, 10, 14, 24]);

    let mut on_demand =
        H264Encoder::new(320, 240, EncoderOptions::new().keyframe_interval(0)).unwrap();
    let keys: Vec<bool> = (0..90)
        .map(|i| is_keyframe(&on_demand.encode(&pattern(320, 240, i), at(i)).unwrap()))
        .collect();
    assert!(keys[0] && keys[1..].iter().all(|k| !k));
}

#[test]
fn picture_constructors() {
    let packed = pattern(64, 32, 3);
    let data = packed.data().to_vec();

    // Three padded planes → the same packed picture.
    let pad = |plane: &[u8], width: usize, stride: usize| -> Vec<u8> {
        plane
            .chunks(width)
            .flat_map(|row| {
                let mut r = row.to_vec();
                r.resize(stride, 0xEE);
                r
            })
            .collect()
    };
    let (y, u, v) = (
        pad(packed.y(), 64, 80),
        pad(packed.u(), 32, 40),
        pad(packed.v(), 32, 48),
    );
    let copied = I420Picture::from_planes(64, 32, [&y, &u, &v], [80, 40, 48]).unwrap();
    assert_eq!(copied, packed);
    // The last row needs no padding.
    let copied = I420Picture::from_planes(
        64,
        32,
        [&y[..y.len() - 16], &u, &v[..v.len() - 16]],
        [80, 40, 48],
    )
    .unwrap();
    assert_eq!(copied, packed);

    // One padded buffer, kept as is.
    let mut buffer = y.clone();
    buffer.extend_from_slice(&u);
    buffer.extend_from_slice(&v);
    let strided = I420Picture::from_vec_with_strides(64, 32, buffer, [80, 40, 48]).unwrap();
    assert_eq!(strided.strides(), [80, 40, 48]);
    assert_eq!(
        (strided.y().len(), strided.u().len(), strided.v().len()),
        (80 * 32, 40 * 16, 48 * 16)
    );
    assert_eq!(strided.y()[..64], packed.y()[..64]);

    // A strided picture encodes like the packed one.
    let mut a = H264Encoder::new(64, 32, EncoderOptions::new()).unwrap();
    let mut b = H264Encoder::new(64, 32, EncoderOptions::new()).unwrap();
    assert_eq!(
        a.encode(&strided, Duration::ZERO).unwrap(),
        b.encode(&packed, Duration::ZERO).unwrap()
    );

    let black = I420Picture::new(4, 2).unwrap();
    assert_eq!(
        black.data(),
        [16, 16, 16, 16, 16, 16, 16, 16, 128, 128, 128, 128]
    );
    assert_eq!(
        I420Picture::from_vec(64, 32, data.clone())
            .unwrap()
            .into_vec(),
        data
    );
    assert!(format!("{packed:?}").contains("bytes: 3072"));
}

#[test]
fn rgb_conversion() {
    let white = I420Picture::from_rgb8(4, 2, &[255; 24]).unwrap();
    assert_eq!(white.y(), [235; 8]);
    assert_eq!((white.u(), white.v()), (&[128, 128][..], &[128, 128][..]));
    let black = I420Picture::from_rgba8(2, 2, &[0, 0, 0, 255].repeat(4)).unwrap();
    assert_eq!(black.data(), [16, 16, 16, 16, 128, 128]);

    // BT.601 limited range red, in RGB, RGBA and BGRA.
    let red = I420Picture::from_rgb8(2, 2, &[255, 0, 0].repeat(4)).unwrap();
    assert_eq!(red.data(), [81, 81, 81, 81, 90, 239]);
    let red_rgba = I420Picture::from_rgba8(2, 2, &[255, 0, 0, 0].repeat(4)).unwrap();
    let red_bgra = I420Picture::from_bgra8(2, 2, &[0, 0, 255, 0].repeat(4)).unwrap();
    assert_eq!(red_rgba, red);
    assert_eq!(red_bgra, red);

    // A larger picture goes through the SIMD path and agrees within rounding.
    let rgb: Vec<u8> = (0..64 * 16 * 3).map(|i| (i * 7 % 256) as u8).collect();
    let picture = I420Picture::from_rgb8(64, 16, &rgb).unwrap();
    for (i, px) in rgb.chunks(3).enumerate() {
        let (r, g, b) = (f64::from(px[0]), f64::from(px[1]), f64::from(px[2]));
        let expected = 16.0 + 0.2578125 * r + 0.50390625 * g + 0.09765625 * b;
        let got = f64::from(picture.y()[i]);
        assert!(
            (got - expected).abs() <= 1.0,
            "pixel {i}: {got} vs {expected}"
        );
    }
}

#[test]
fn bad_pictures_are_typed_errors() {
    let cases: Vec<(Result<I420Picture, Error>, &str)> = vec![
        (I420Picture::new(0, 2), "width"),
        (I420Picture::new(3, 2), "width"),
        (I420Picture::new(2, 5), "height"),
        (I420Picture::new(2, MAX_PICTURE_SIDE + 2), "height"),
        (I420Picture::new(u32::MAX - 1, 2), "width"),
        (I420Picture::from_vec(4, 2, vec![0; 11]), "data"),
        (I420Picture::from_vec(4, 2, vec![0; 13]), "data"),
        (I420Picture::from_vec(4, 2, Vec::new()), "data"),
        (I420Picture::from_vec(5, 2, vec![0; 15]), "width"),
        (
            I420Picture::from_vec_with_strides(4, 2, vec![0; 12], [3, 2, 2]),
            "strides[0]",
        ),
        (
            I420Picture::from_vec_with_strides(4, 2, vec![0; 12], [4, 1, 2]),
            "strides[1]",
        ),
        (
            I420Picture::from_vec_with_strides(4, 2, vec![0; 12], [4, 2, usize::MAX]),
            "strides[2]",
        ),
        (
            I420Picture::from_vec_with_strides(4, 2, vec![0; 12], [8, 2, 2]),
            "data",
        ),
        (
            I420Picture::from_planes(4, 2, [&[0; 7], &[0; 2], &[0; 2]], [4, 2, 2]),
            "planes[0]",
        ),
        (
            I420Picture::from_planes(4, 2, [&[0; 8], &[0; 1], &[0; 2]], [4, 2, 2]),
            "planes[1]",
        ),
        (
            I420Picture::from_planes(4, 4, [&[0; 16], &[0; 4], &[0; 5]], [4, 2, 4]),
            "planes[2]",
        ),
        (
            I420Picture::from_planes(4, 2, [&[0; 8], &[0; 2], &[0; 2]], [4, 2, 1]),
            "strides[2]",
        ),
        (I420Picture::from_rgb8(4, 2, &[0; 23]), "rgb"),
        (I420Picture::from_rgb8(3, 2, &[0; 18]), "width"),
        (I420Picture::from_rgba8(4, 2, &[0; 24]), "rgba"),
        (I420Picture::from_bgra8(4, 2, &[0; 33]), "bgra"),
    ];
    for (i, (result, expected)) in cases.into_iter().enumerate() {
        let e = result.expect_err(&format!("case {i}"));
        assert_eq!(e.code(), "INVALID_INPUT", "case {i}");
        assert_eq!(field(&e), expected, "case {i}: {e}");
        assert!(!e.is_retryable());
    }
}

#[test]
fn bad_encoder_inputs_are_typed_errors() {
    let new = |w, h, o| H264Encoder::new(w, h, o).map(|_| ());
    let o = EncoderOptions::new;
    for (result, expected) in [
        (new(1279, 720, o()), "width"),
        (new(1280, 0, o()), "height"),
        (new(4096, 2160, o()), "width"),
        (new(2160, 3842, o()), "height"),
        (new(3000, 3000, o()), "width"),
        (new(64, 64, o().fps(0.0)), "fps"),
        (new(64, 64, o().fps(0.5)), "fps"),
        (new(64, 64, o().fps(61.0)), "fps"),
        (new(64, 64, o().fps(f32::NAN)), "fps"),
        (new(64, 64, o().fps(f32::INFINITY)), "fps"),
        (new(64, 64, o().bitrate(0)), "bitrate"),
        (new(64, 64, o().bitrate(u32::MAX)), "bitrate"),
    ] {
        let e = result.unwrap_err();
        assert_eq!(field(&e), expected, "{e}");
    }
    // The largest sizes in both orientations are fine.
    H264Encoder::new(3840, 2160, o()).unwrap();
    H264Encoder::new(2160, 3840, o()).unwrap();

    let mut encoder = H264Encoder::new(64, 32, o()).unwrap();
    let e = encoder
        .encode(&I420Picture::new(32, 64).unwrap(), Duration::ZERO)
        .unwrap_err();
    assert_eq!(field(&e), "picture");
    assert!(e.to_string().contains("32×64"), "{e}");
    let e = encoder
        .encode(&I420Picture::new(64, 32).unwrap(), Duration::MAX)
        .unwrap_err();
    assert_eq!(field(&e), "timestamp");
    // Nothing was encoded, and the encoder still works.
    assert_eq!(encoder.frames_encoded(), 0);
    let frame = encoder
        .encode(&I420Picture::new(64, 32).unwrap(), Duration::from_secs(3))
        .unwrap();
    assert!(is_keyframe(&frame));
    assert!(format!("{encoder:?}").contains("H264Encoder"));
}

#[test]
fn bad_frames_are_typed_errors_and_the_decoder_recovers() {
    let mut encoder =
        H264Encoder::new(160, 96, EncoderOptions::new().keyframe_interval(0)).unwrap();
    let frames: Vec<VideoFrame> = (0..6)
        .map(|i| encoder.encode(&pattern(160, 96, i), at(i)).unwrap())
        .collect();

    let mut decoder = H264Decoder::new().unwrap();
    for bad in [
        &b""[..],
        b"\x65\x88\x84",
        b"\x00\x00\x02\x65",
        b"\x00\x01\x65",
    ] {
        let e = decoder
            .decode(&VideoFrame::new(bad, Duration::ZERO))
            .unwrap_err();
        assert_eq!(field(&e), "frame", "{bad:?}: {e}");
    }
    // A delta frame before any keyframe: no parameter sets.
    let e = decoder.decode(&frames[1]).unwrap_err();
    assert_eq!(field(&e), "frame");
    assert!(
        e.to_string().contains("OpenH264 could not decode it"),
        "{e}"
    );
    // Then the keyframe and the rest decode.
    for frame in &frames {
        assert!(decoder.decode(frame).unwrap().is_some());
    }

    // Garbage after a start code, and truncated frames: errors or nothing, never a panic, and
    // the decoder picks up again at a keyframe.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut decoder = H264Decoder::new().unwrap();
    for _ in 0..300 {
        let mut junk = vec![0, 0, 0, 1];
        junk.extend((0..rng.usize(1..400)).map(|_| rng.u8(..)));
        let _ = decoder.decode(&VideoFrame::new(junk, Duration::ZERO));
    }
    for frame in &frames {
        for cut in [5, frame.data().len() / 2, frame.data().len() - 1] {
            let _ = decoder.decode(&VideoFrame::new(&frame.data()[..cut], Duration::ZERO));
        }
        let mut flipped = frame.data().to_vec();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x5a;
        let _ = decoder.decode(&VideoFrame::new(flipped, Duration::ZERO));
    }
    let mut fresh = H264Encoder::new(160, 96, EncoderOptions::new()).unwrap();
    let key = fresh.encode(&pattern(160, 96, 0), Duration::ZERO).unwrap();
    let picture = decoder.decode(&key).unwrap().unwrap();
    assert_eq!((picture.width(), picture.height()), (160, 96));
    assert!(psnr_luma(&pattern(160, 96, 0), &picture) > 30.0);
}

#[test]
fn nal_unit_parsing() {
    assert_eq!(
        nal_unit_types(b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\x00\x00\x01\x65\x88")
            .collect::<Vec<_>>(),
        [7, 8, 5]
    );
    assert_eq!(nal_unit_types(b"").count(), 0);
    assert_eq!(nal_unit_types(b"\x00\x00\x01").count(), 0);
    assert_eq!(nal_unit_types(b"\x65\x00\x00").count(), 0);
    assert!(!is_keyframe(&VideoFrame::new(
        &b"\x00\x00\x01\x41\x9a"[..],
        Duration::ZERO
    )));
    assert!(is_keyframe(&VideoFrame::new(
        &b"\x00\x00\x01\x25\x88"[..],
        Duration::ZERO
    )));
}

#[test]
fn codec_types_are_send() {
    fn send<T: Send>() {}
    send::<H264Encoder>();
    send::<H264Decoder>();
    send::<I420Picture>();
}

#[test]
fn decoding_states_in_words() {
    assert_eq!(
        decoding_state(0x14),
        "bitstream error, no parameter sets (SPS/PPS) yet (decoding state 0x14)"
    );
    assert_eq!(decoding_state(0x100000), "decoding state 0x100000");
}
