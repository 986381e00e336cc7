//! Small embedded word lists for the fake profile generator (no Faker dependency).

pub const FIRST_NAMES: &[&str] = &[
    "Alice", "Amara", "Andrei", "Aya", "Beatriz", "Bruno", "Camille", "Chen", "Dana", "Diego",
    "Elena", "Emeka", "Farah", "Felix", "Greta", "Hana", "Hugo", "Ines", "Ivan", "Jamal", "Jane",
    "Johan", "Kai", "Kenji", "Lars", "Leila", "Lucia", "Marco", "Maya", "Mei", "Nadia", "Noah",
    "Olga", "Omar", "Priya", "Rafael", "Rosa", "Sami", "Sofia", "Tariq", "Yuki", "Zoë",
];

pub const LAST_NAMES: &[&str] = &[
    "Abara", "Andersen", "Bauer", "Castillo", "Chen", "Costa", "Dubois", "Eriksson", "Fischer",
    "García", "Haddad", "Ivanova", "Jensen", "Kim", "Kowalski", "Lefebvre", "Li", "Martin",
    "Moreau", "Müller", "Nakamura", "Novak", "O'Brien", "Okafor", "Patel", "Popescu", "Rossi",
    "Santos", "Schmidt", "Silva", "Singh", "Tanaka", "Varga", "Wang", "Weber", "Yilmaz", "Zhang",
];

pub const WORDS: &[&str] = &[
    "amber", "anchor", "aurora", "badger", "beacon", "birch", "breeze", "canyon", "cedar", "comet",
    "coral", "delta", "ember", "falcon", "fern", "fjord", "forest", "glacier", "harbor", "heron",
    "horizon", "indigo", "island", "juniper", "lagoon", "lantern", "maple", "meadow", "mesa",
    "nebula", "oasis", "orchid", "otter", "pebble", "pine", "prairie", "quartz", "raven", "reef",
    "river", "saffron", "sierra", "spruce", "summit", "thistle", "tundra", "valley", "willow",
];

pub const GROUP_PREFIXES: &[&str] = &["team", "mozilliansorg", "vpn", "hris", "project", "nda"];

pub const TITLES: &[&str] = &[
    "Staff Software Engineer",
    "Senior Software Engineer",
    "Engineering Manager",
    "Product Manager",
    "Security Engineer",
    "Site Reliability Engineer",
    "Data Scientist",
    "UX Designer",
    "Technical Writer",
    "QA Engineer",
    "Community Manager",
    "Release Manager",
    "Director, Engineering",
    "Program Manager",
    "Localization Engineer",
    "Privacy Counsel",
];

pub const TEAMS: &[&str] = &[
    "Firefox Engineering",
    "Enterprise Information Security",
    "Identity and Access Management",
    "Data Platform",
    "Developer Infrastructure",
    "Mozilla VPN",
    "Web Compatibility",
    "Localization",
    "People Operations",
    "Product Design",
    "Release Engineering",
    "Pocket",
];

pub const CITIES: &[(&str, &str, &str, &str)] = &[
    // (city, country, alpha-2, tz database name)
    (
        "Mountain View",
        "United States",
        "US",
        "America/Los_Angeles",
    ),
    (
        "San Francisco",
        "United States",
        "US",
        "America/Los_Angeles",
    ),
    ("Portland", "United States", "US", "America/Los_Angeles"),
    ("New York", "United States", "US", "America/New_York"),
    ("Toronto", "Canada", "CA", "America/Toronto"),
    ("Vancouver", "Canada", "CA", "America/Vancouver"),
    ("London", "United Kingdom", "GB", "Europe/London"),
    ("Paris", "France", "FR", "Europe/Paris"),
    ("Berlin", "Germany", "DE", "Europe/Berlin"),
    ("Madrid", "Spain", "ES", "Europe/Madrid"),
    ("Taipei", "Taiwan", "TW", "Asia/Taipei"),
    ("Tokyo", "Japan", "JP", "Asia/Tokyo"),
    ("São Paulo", "Brazil", "BR", "America/Sao_Paulo"),
    ("Nairobi", "Kenya", "KE", "Africa/Nairobi"),
    ("Auckland", "New Zealand", "NZ", "Pacific/Auckland"),
];

/// UTC offsets matching the time zones above, as `UTC±HHMM` (standard time).
pub fn utc_offset(tz: &str) -> &'static str {
    match tz {
        "America/Los_Angeles" | "America/Vancouver" => "UTC-0800",
        "America/New_York" | "America/Toronto" => "UTC-0500",
        "America/Sao_Paulo" => "UTC-0300",
        "Europe/London" => "UTC+0000",
        "Europe/Paris" | "Europe/Berlin" | "Europe/Madrid" => "UTC+0100",
        "Africa/Nairobi" => "UTC+0300",
        "Asia/Taipei" => "UTC+0800",
        "Asia/Tokyo" => "UTC+0900",
        "Pacific/Auckland" => "UTC+1200",
        _ => "UTC+0000",
    }
}

pub const LANGUAGES: &[&str] = &[
    "English",
    "French",
    "German",
    "Spanish",
    "Japanese",
    "Portuguese",
];

pub const PRONOUNS: &[&str] = &["she/her", "he/him", "they/them"];

pub const EMAIL_DOMAINS: &[&str] = &["example.com", "example.net", "example.org", "mail.example"];

pub const FUN_TITLES: &[&str] = &[
    "Chief Bug Whisperer",
    "Keeper of the Foxes",
    "Patch Wrangler",
    "Cache Invalidator",
    "Yak Shaver",
    "Packet Herder",
    "Emoji Curator",
    "Semicolon Enthusiast",
];
