#include "pg/session_reset.hpp"

#include <string>

namespace connpool {

ResetMode parse_reset_mode(std::string_view value) {
    if (value == "always") return ResetMode::always;
    if (value == "rollback") return ResetMode::rollback;
    return ResetMode::auto_;
}

std::string full_reset_sql(bool in_transaction, std::string_view cache_prefix) {
    std::string sql;
    sql.reserve(640);
    // A multi-statement simple query runs as one implicit transaction: after the ROLLBACK of
    // the lease's own transaction, either all of it takes effect or the reset failed (and the
    // connection is closed).
    if (in_transaction) sql += "ROLLBACK;";
    // DISCARD ALL minus DEALLOCATE ALL and DISCARD PLANS, which would throw the statement cache
    // away. SESSION AUTHORIZATION first: RESET ALL does not cover it (and it resets the role).
    sql +=
        "SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;"
        "SELECT pg_catalog.pg_advisory_unlock_all();DISCARD TEMP;DISCARD SEQUENCES;";
    // There is no "DEALLOCATE all but these": the caller's prepared statements are found and
    // dropped server-side (DEALLOCATE is allowed in PL/pgSQL's EXECUTE, checked on 15). The
    // cache's names all start with `cache_prefix` (only [_0-9a-z]: no quoting needed).
    sql +=
        "DO $connpool_reset$ DECLARE s record; BEGIN FOR s IN SELECT name FROM "
        "pg_catalog.pg_prepared_statements WHERE pg_catalog.left(name, ";
    sql += std::to_string(cache_prefix.size());
    sql += ") <> '";
    sql += cache_prefix;
    sql +=
        "' LOOP EXECUTE 'DEALLOCATE ' || pg_catalog.quote_ident(s.name); END LOOP; END "
        "$connpool_reset$";
    return sql;
}

// set_config rather than SET: it takes a value as SHOW prints it, lists (search_path) included.
// The role is not in pg_settings (it is hidden from SHOW ALL), so it is asked for on its own and
// set last (the full reset's RESET ALL and SET SESSION AUTHORIZATION DEFAULT both clear it).
const char *const kSessionBaselineQuery =
    "SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(';SELECT pg_catalog.set_config(%L, "
    "%L, false)', name, pg_catalog.current_setting(name)), '' ORDER BY name), '') || CASE WHEN "
    "pg_catalog.current_setting('role') <> 'none' THEN pg_catalog.format(';SET ROLE %I', "
    "pg_catalog.current_setting('role')) ELSE '' END FROM pg_catalog.pg_settings WHERE source = "
    "'session'";

}  // namespace connpool
