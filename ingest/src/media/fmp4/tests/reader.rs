//! Reads back the boxes the muxer writes, independently of the writer.

/// A box: its type and body (after size and type).
pub struct Mp4Box<'a> {
    pub kind: [u8; 4],
    pub body: &'a [u8],
    /// Offset of the box in the buffer it was read from.
    pub offset: usize,
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(data[at..at + 8].try_into().unwrap())
}

/// The boxes one after another in `data`, which they must fill exactly.
pub fn boxes(data: &[u8]) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let size = u32_at(data, at) as usize;
        assert!(
            size >= 8 && at + size <= data.len(),
            "box at {at}: size {size}"
        );
        out.push(Mp4Box {
            kind: data[at + 4..at + 8].try_into().unwrap(),
            body: &data[at + 8..at + size],
            offset: at,
        });
        at += size;
    }
    out
}

/// How many bytes of a box body come before its child boxes.
fn children_start(kind: &[u8; 4]) -> usize {
    match kind {
        b"stsd" | b"dref" => 8,
        b"avc1" => 78,
        b"mp4a" => 28,
        _ => 0,
    }
}

/// The body of the only box at `path` (each element a child of the previous one).
pub fn find<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> &'a [u8] {
    let all = find_all(data, path);
    assert_eq!(all.len(), 1, "{:?}", path_name(path));
    all[0]
}

/// The bodies of every box at `path` (for a sample entry or `stsd`, the whole body, its
/// fields before the child boxes included).
pub fn find_all<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Vec<&'a [u8]> {
    let Some((first, rest)) = path.split_first() else {
        return vec![data];
    };
    boxes(data)
        .into_iter()
        .filter(|b| &b.kind == *first)
        .flat_map(|b| {
            if rest.is_empty() {
                vec![b.body]
            } else {
                find_all(&b.body[children_start(&b.kind)..], rest)
            }
        })
        .collect()
}

fn path_name(path: &[&[u8; 4]]) -> String {
    path.iter()
        .map(|k| String::from_utf8_lossy(&k[..]).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// One `trun` sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
    pub composition_offset: i32,
}

/// A `traf` read back, with tfhd defaults applied to every sample.
#[derive(Debug)]
pub struct Traf {
    pub track_id: u32,
    pub base_media_decode_time: u64,
    pub trun_version: u8,
    pub data_offset: i32,
    pub samples: Vec<Sample>,
}

impl Traf {
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }
}

pub fn traf(body: &[u8]) -> Traf {
    let tfhd = find(body, &[b"tfhd"]);
    let tfhd_flags = u32_at(tfhd, 0) & 0xff_ffff;
    assert_ne!(tfhd_flags & 0x02_0000, 0, "default-base-is-moof");
    assert_eq!(tfhd_flags & 0x01, 0, "no base_data_offset");
    let track_id = u32_at(tfhd, 4);
    let mut at = 8;
    let mut take = |present: bool| {
        present.then(|| {
            at += 4;
            u32_at(tfhd, at - 4)
        })
    };
    assert_eq!(tfhd_flags & 0x02, 0);
    let default_duration = take(tfhd_flags & 0x08 != 0);
    assert_eq!(tfhd_flags & 0x10, 0);
    let default_flags = take(tfhd_flags & 0x20 != 0);
    let tfdt = find(body, &[b"tfdt"]);
    assert_eq!(tfdt[0], 1, "tfdt version 1");
    let trun = find(body, &[b"trun"]);
    let trun_flags = u32_at(trun, 0) & 0xff_ffff;
    let count = u32_at(trun, 4) as usize;
    assert_ne!(trun_flags & 0x1, 0, "data offset present");
    let data_offset = u32_at(trun, 8) as i32;
    let mut at = 12;
    let mut next = || {
        at += 4;
        u32_at(trun, at - 4)
    };
    let first_flags = (trun_flags & 0x4 != 0).then(&mut next);
    let mut samples = Vec::new();
    for i in 0..count {
        let duration = if trun_flags & 0x100 != 0 {
            next()
        } else {
            default_duration.unwrap()
        };
        let size = next();
        let flags = if trun_flags & 0x400 != 0 {
            next()
        } else if i == 0 && first_flags.is_some() {
            first_flags.unwrap()
        } else {
            default_flags.unwrap()
        };
        let composition_offset = if trun_flags & 0x800 != 0 {
            next() as i32
        } else {
            0
        };
        samples.push(Sample {
            duration,
            size,
            flags,
            composition_offset,
        });
    }
    assert_eq!(at, trun.len(), "trun fully read");
    Traf {
        track_id,
        base_media_decode_time: u64_at(tfdt, 4),
        trun_version: trun[0],
        data_offset,
        samples,
    }
}

/// A media segment read back: mfhd sequence number, the trafs, and the mdat's offset.
pub struct Fragment {
    pub sequence_number: u32,
    pub trafs: Vec<Traf>,
    pub mdat_body_offset: usize,
    pub mdat_len: usize,
}

pub fn fragment(data: &[u8]) -> Fragment {
    let top = boxes(data);
    assert_eq!(top.len(), 2);
    assert_eq!(&top[0].kind, b"moof");
    assert_eq!(&top[1].kind, b"mdat");
    let mfhd = find(top[0].body, &[b"mfhd"]);
    Fragment {
        sequence_number: u32_at(mfhd, 4),
        trafs: find_all(top[0].body, &[b"traf"])
            .into_iter()
            .map(traf)
            .collect(),
        mdat_body_offset: top[1].offset + 8,
        mdat_len: top[1].body.len(),
    }
}

pub fn be_u32(data: &[u8], at: usize) -> u32 {
    u32_at(data, at)
}
