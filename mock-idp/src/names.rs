//! Closed sets of names: enums whose every value has one name on the wire (JSON, TOML, flags).
//!
//! [`closed_names!`] declares such an enum once, with each value's name beside it; the list of
//! values, the name of each, `Display`, `FromStr` and serde all come from that one table, so a
//! name cannot be spelled differently in two places.

/// Declares an enum of unit variants, each with its wire name:
///
/// ```ignore
/// closed_names! {
///     /// Doc comment.
///     #[derive(Default)]
///     pub enum Mode("mode") {
///         /// Doc comment.
///         #[default]
///         Fast = "fast",
///         Slow = "slow",
///     }
/// }
/// ```
///
/// The string in parentheses names the set in error messages. The enum derives `Debug`, `Clone`,
/// `Copy`, `PartialEq`, `Eq` and `Hash`, and gets `ALL` (declaration order), `NAMES`, `name()`,
/// `Display`, `FromStr`, `Serialize` and `Deserialize` (a string; an unknown one is serde's
/// "unknown variant" error, listing the names).
macro_rules! closed_names {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($kind:literal) {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $wire:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The name on the wire.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|value| value.name() == text)
                    .ok_or_else(|| format!("unknown {} {text:?}", $kind))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;

                impl ::serde::de::Visitor<'_> for Visitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "a {} name", $kind)
                    }

                    fn visit_str<E: ::serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::ALL
                            .iter()
                            .copied()
                            .find(|value| value.name() == text)
                            .ok_or_else(|| E::unknown_variant(text, $name::NAMES))
                    }
                }

                deserializer.deserialize_str(Visitor)
            }
        }
    };
}

pub(crate) use closed_names;

#[cfg(test)]
mod tests {

    closed_names! {
        /// A set for the tests.
        #[derive(Default)]
        enum Colour("colour") {
            /// The default.
            #[default]
            Red = "red",
            DarkBlue = "dark-blue",
        }
    }

    #[test]
    fn one_table_gives_every_direction() {
        assert_eq!(Colour::ALL, [Colour::Red, Colour::DarkBlue]);
        assert_eq!(Colour::NAMES, ["red", "dark-blue"]);
        assert_eq!(Colour::default(), Colour::Red);
        for colour in Colour::ALL {
            assert_eq!(colour.to_string().parse::<Colour>(), Ok(*colour));
            let wire = serde_json::to_value(colour).expect("serialise");
            assert_eq!(wire, serde_json::json!(colour.name()));
            assert_eq!(serde_json::from_value::<Colour>(wire).ok(), Some(*colour));
        }
        assert_eq!(
            "green".parse::<Colour>(),
            Err("unknown colour \"green\"".to_owned())
        );
        let err = serde_json::from_str::<Colour>("\"green\"").expect_err("unknown");
        assert!(
            err.to_string()
                .contains("unknown variant `green`, expected `red` or `dark-blue`"),
            "{err}"
        );
        assert!(serde_json::from_str::<Colour>("1").is_err());
    }
}
