// The tables of migrations/, as diesel sees them.

diesel::table! {
    actors (name) {
        name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    server_keys (serial) {
        serial -> Text,
        cert_pem -> Text,
        key_pkcs8_hex -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    id_certs (serial) {
        serial -> Text,
        actor_name -> Text,
        session_id_hex -> Text,
        cert_pem -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        issued_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        token_hash -> Nullable<Text>,
    }
}

diesel::table! {
    cert_generation (id) {
        id -> Integer,
        generation -> BigInt,
    }
}

diesel::joinable!(id_certs -> actors (actor_name));
diesel::allow_tables_to_appear_in_same_query!(
    actors,
    server_keys,
    id_certs,
    challenges,
    foreign_sessions
);

diesel::table! {
    challenges (challenge) {
        challenge -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    foreign_sessions (id) {
        id -> Text,
        fid -> Text,
        session_id_hex -> Text,
        home_domain -> Text,
        cert_pem -> Text,
        cert_serial -> Text,
        cert_not_after -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        token_hash -> Nullable<Text>,
    }
}
