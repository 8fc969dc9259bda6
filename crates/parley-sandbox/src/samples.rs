//! Media a customer of the sandbox sends, made here so the demo and the tests show what the
//! inbox does with real files: a photo (a PNG drawn here: a blue T-shirt on a table), a voice
//! note (a WAV of a few spoken-like tones; encoding Opus would need a native library, and the
//! inbox plays either), and a one-page PDF invoice. All generated, nothing downloaded.

/// A 480×360 photo-like PNG: a blue T-shirt on a wooden table against a pale wall.
pub fn photo_png() -> Vec<u8> {
    const W: u32 = 480;
    const H: u32 = 360;
    let mut rgb = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            rgb.extend_from_slice(&pixel(x as f32 / W as f32, y as f32 / H as f32));
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, W, H);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing to a Vec cannot fail; the header and data are well formed by construction.
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(&rgb).expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

/// The colour at (x, y), both in 0..1.
fn pixel(x: f32, y: f32) -> [u8; 3] {
    let shade = |c: [f32; 3], k: f32| c.map(|v| (v * k).clamp(0.0, 255.0) as u8);
    // The shirt: a body and two sleeves, lit from the top left.
    let (cx, top, bottom) = (0.5, 0.18, 0.78);
    let body = (x - cx).abs() < 0.16 && y > top + 0.04 && y < bottom;
    let sleeves = y > top + 0.02 && y < top + 0.22 && (x - cx).abs() < 0.16 + (y - top) * 0.9 && (x - cx).abs() > 0.1;
    let collar = ((x - cx).powi(2) + (y - top).powi(2)).sqrt() < 0.05;
    if (body || sleeves) && !collar {
        let light = 1.15 - 0.5 * (x - 0.3).abs() - 0.3 * (y - top);
        let fold = if ((x * 40.0).sin() * (y * 9.0).cos()).abs() < 0.05 { 0.85 } else { 1.0 };
        return shade([40.0, 95.0, 200.0], light * fold);
    }
    if y > 0.8 {
        // The table: wood grain.
        let grain = 0.9 + 0.1 * ((y * 120.0 + (x * 7.0).sin() * 3.0).sin());
        return shade([150.0, 105.0, 65.0], grain);
    }
    // The wall: a soft vertical gradient with a window's light.
    let glow = 1.0 + 0.12 * (-((x - 0.8).powi(2) + (y - 0.25).powi(2)) * 8.0).exp();
    shade([228.0, 226.0, 218.0], glow * (1.0 - 0.08 * y))
}

/// A 2.4 s voice-note-like WAV (8 kHz mono PCM): syllables of rising and falling pitch with
/// pauses, as speech sounds from afar.
pub fn voice_note_wav() -> Vec<u8> {
    const RATE: u32 = 8000;
    let syllables: [(f32, f32, f32); 7] = [
        (0.00, 0.22, 180.0),
        (0.28, 0.18, 210.0),
        (0.50, 0.30, 160.0),
        (0.95, 0.20, 230.0),
        (1.20, 0.25, 190.0),
        (1.55, 0.35, 170.0),
        (2.00, 0.30, 150.0),
    ];
    let total = (RATE as f32 * 2.4) as usize;
    let mut samples = vec![0i16; total];
    for (start, length, pitch) in syllables {
        let (from, count) = ((start * RATE as f32) as usize, (length * RATE as f32) as usize);
        for i in 0..count.min(total - from) {
            let t = i as f32 / RATE as f32;
            let envelope = (std::f32::consts::PI * i as f32 / count as f32).sin();
            let f = pitch * (1.0 + 0.15 * (t * 6.0).sin());
            let voice = (2.0 * std::f32::consts::PI * f * t).sin() * 0.6
                + (4.0 * std::f32::consts::PI * f * t).sin() * 0.25
                + (6.0 * std::f32::consts::PI * f * t).sin() * 0.1;
            samples[from + i] = (voice * envelope * 9000.0) as i16;
        }
    }
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// A one-page PDF invoice whose lines are `lines` (ASCII), with a correct cross-reference table.
pub fn invoice_pdf(lines: &[&str]) -> Vec<u8> {
    let mut text = String::from("BT /F1 14 Tf 72 760 Td 18 TL\n");
    for line in lines {
        let escaped = line.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
        text.push_str(&format!("({escaped}) Tj T*\n"));
    }
    text.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_photo_is_a_real_png_of_its_size() {
        let bytes = photo_png();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (480, 360));
    }

    #[test]
    fn the_voice_note_is_a_wav_of_its_length() {
        let wav = voice_note_wav();
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        let data = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
        assert_eq!(data, wav.len() - 44);
        assert_eq!(data, 2 * 19_200, "2.4 s at 8 kHz, 16 bits");
        assert!(wav[44..].iter().any(|b| *b != 0), "not silence");
    }

    #[test]
    fn the_invoice_points_at_each_of_its_objects() {
        let pdf = invoice_pdf(&["Invoice A-1042", "Blue T-shirt (M)  19.90 EUR"]);
        let text = String::from_utf8(pdf.clone()).unwrap();
        let xref: usize = text.rsplit("startxref\n").next().unwrap().lines().next().unwrap().parse().unwrap();
        assert!(text[xref..].starts_with("xref\n0 6\n"));
        for (i, entry) in text[xref..].lines().skip(3).take(5).enumerate() {
            let offset: usize = entry[..10].parse().unwrap();
            assert!(text[offset..].starts_with(&format!("{} 0 obj", i + 1)), "object {}", i + 1);
        }
        assert!(text.contains("(Blue T-shirt \\(M\\)  19.90 EUR) Tj"));
    }
}
