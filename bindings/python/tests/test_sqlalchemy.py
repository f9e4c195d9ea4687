"""SQLAlchemy 1.4 (dialect postgresql+connpool) and pandas over connpool.dbapi.

SQLAlchemy and pandas are required (Debian python3-sqlalchemy, python3-pandas; installed by
scripts/install-deps --all): a missing one fails this test module rather than skipping it."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import unittest
import uuid

import support
from support import PgTestCase, unique_app

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")  # pandas 1.5 uses 1.x APIs

import pandas  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql as pg

import connpool
import connpool.sqlalchemy_dialect  # noqa: F401 - registers postgresql+connpool
from connpool import dbapi


def engine_url(app: str, **query) -> sa.engine.URL:
    """The test server as a postgresql+connpool URL (socket directory in ?host=)."""
    base = support.conninfo()
    if base.startswith(("postgres://", "postgresql://")):
        url = sa.engine.make_url(base).set(drivername="postgresql+connpool")
    else:
        info = dict(part.split("=", 1) for part in base.split())
        url = sa.engine.URL.create(
            "postgresql+connpool",
            username=info.get("user"),
            password=info.get("password"),
            database=info.get("dbname"),
            query={k: info[k] for k in ("host", "port") if k in info},
        )
    return url.update_query_dict({"application_name": app, **query})


class SQLAlchemyTestCase(PgTestCase):
    #: SQLAlchemy 2.0 style engine (pandas 1.5 needs the 1.x style).
    future = True

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.app = unique_app("connpool_py_sa")
        cls.engine = sa.create_engine(engine_url(cls.app, max_size="4"), future=cls.future)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.dispose()
        dbapi.close_pools()
        super().tearDownClass()

    def fresh_name(self) -> str:
        name = f"pytest_sa_{uuid.uuid4().hex[:10]}"
        self.addCleanup(self.sql, f"DROP TABLE IF EXISTS {name}")
        return name


class DialectTest(SQLAlchemyTestCase):
    def test_url_selects_the_dialect_and_null_pool(self):
        self.assertEqual(self.engine.dialect.driver, "connpool")
        self.assertIs(self.engine.dialect.dbapi, dbapi)
        self.assertIsInstance(self.engine.pool, sa.pool.NullPool)
        with self.engine.connect() as conn:
            self.assertGreaterEqual(self.engine.dialect.server_version_info, (12,))
            raw = conn.connection.dbapi_connection
            self.assertIsInstance(raw, dbapi.Connection)
            pool = raw.pool
            self.assertEqual(pool.get_stats()["in_use"], 1)
        self.assertEqual(pool.get_stats()["in_use"], 0, "checkin returned the lease")

    def test_url_query_configures_the_pool_and_conninfo(self):
        # max_size and acquire_timeout (C option text: milliseconds) go to the pool,
        # application_name to the conninfo. The timeout also bounds the first connect, so it
        # leaves room for a loaded machine.
        engine = sa.create_engine(engine_url(self.app + "_q", max_size="1", acquire_timeout="1000"),
                                  future=True)
        self.addCleanup(engine.dispose)
        with engine.connect() as conn:
            app = conn.exec_driver_sql("SELECT current_setting('application_name')").scalar()
            self.assertEqual(app, self.app + "_q")
            self.assertEqual(conn.connection.dbapi_connection.pool.get_stats()["in_use"], 1)
            with self.assertRaises(sa.exc.OperationalError) as ctx:
                engine.connect()  # max_size 1 is in use: times out after 1 s
            self.assertIsInstance(ctx.exception.orig, connpool.PoolTimeout)

    def test_typed_binds_in_select_list(self):
        with self.engine.connect() as conn:
            self.assertEqual(conn.execute(sa.select(sa.literal(5))).scalar(), 5)
            self.assertEqual(conn.execute(sa.select(sa.literal(dt.date(2024, 1, 2)))).scalar(),
                             dt.date(2024, 1, 2))
            self.assertEqual(conn.execute(sa.select(sa.literal("x%"))).scalar(), "x%")
            self.assertEqual(conn.execute(sa.text("SELECT 7 % 4")).scalar(), 3)

    def test_creator_is_not_needed(self):
        # The psycopg2 dialect with creator= (what users tried) is not the way: the URL is.
        engine = sa.create_engine(engine_url(self.app))
        try:
            with engine.connect() as conn:
                self.assertEqual(conn.execute(sa.text("SELECT 1")).scalar(), 1)
        finally:
            engine.dispose()


class CoreTest(SQLAlchemyTestCase):
    def test_create_insert_select(self):
        md = sa.MetaData()
        table = sa.Table(
            self.fresh_name(), md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(40), nullable=False),
            sa.Column("price", sa.Numeric(10, 2)),
            sa.Column("score", sa.Float),
            sa.Column("born", sa.DateTime(timezone=True)),
            sa.Column("tags", pg.ARRAY(sa.Text)),
            sa.Column("doc", pg.JSONB),
            sa.Column("token", pg.UUID(as_uuid=True)),
            sa.Column("raw", sa.LargeBinary),
            sa.Column("active", sa.Boolean),
        )
        md.create_all(self.engine)
        born = dt.datetime(2020, 5, 17, 12, 0, tzinfo=dt.timezone.utc)
        token = uuid.uuid4()
        rows = [
            {"name": "ale", "price": decimal.Decimal("3.50"), "score": 1.5, "born": born,
             "tags": ["a", "b,c"], "doc": {"k": [1, 2]}, "token": token, "raw": b"\x00\x01",
             "active": True},
            {"name": "100% stout", "price": None, "score": None, "born": None, "tags": [],
             "doc": None, "token": None, "raw": None, "active": False},
        ]
        with self.engine.begin() as conn:
            result = conn.execute(table.insert(), rows)
            self.assertEqual(result.rowcount, 2)
            ident = conn.execute(table.insert().values(name="porter").returning(table.c.id)).scalar()
            self.assertIsInstance(ident, int)
        with self.engine.connect() as conn:
            got = conn.execute(sa.select(table).where(table.c.name == "ale")).mappings().one()
            self.assertEqual(got["price"], decimal.Decimal("3.50"))
            self.assertEqual(got["score"], 1.5)
            self.assertEqual(got["born"], born)
            self.assertEqual(got["tags"], ["a", "b,c"])
            self.assertEqual(got["doc"], {"k": [1, 2]})
            self.assertEqual(got["token"], token)
            self.assertEqual(got["raw"], b"\x00\x01")
            self.assertIs(got["active"], True)
            names = conn.execute(
                sa.select(table.c.name).where(table.c.name.like("%\\%%", escape="\\"))
            ).scalars().all()
            self.assertEqual(names, ["100% stout"])
            names = conn.execute(
                sa.select(table.c.name).where(table.c.name.in_(["ale", "porter"])).order_by(table.c.name)
            ).scalars().all()
            self.assertEqual(names, ["ale", "porter"])
            self.assertEqual(conn.execute(
                sa.select(sa.func.count()).where(table.c.tags.contains(["a"]))).scalar(), 1)
        self.assertTrue(sa.inspect(self.engine).has_table(table.name))
        columns = {c["name"] for c in sa.inspect(self.engine).get_columns(table.name)}
        self.assertIn("doc", columns)

    def test_rollback_and_transaction_errors(self):
        md = sa.MetaData()
        table = sa.Table(self.fresh_name(), md, sa.Column("id", sa.Integer, primary_key=True))
        md.create_all(self.engine)
        with self.engine.connect() as conn:
            conn.execute(table.insert(), [{"id": 1}])
            conn.rollback()
            conn.execute(table.insert(), [{"id": 2}])
            conn.commit()
        with self.assertRaises(sa.exc.IntegrityError) as ctx:
            with self.engine.begin() as conn:
                conn.execute(table.insert(), [{"id": 3}])
                conn.execute(table.insert(), [{"id": 2}])
        self.assertIsInstance(ctx.exception.orig, dbapi.IntegrityError)
        self.assertEqual(ctx.exception.orig.sqlstate, "23505")
        self.assertEqual(self.sql(f"SELECT array_agg(id) FROM {table.name}"), [("{2}",)])

    def test_isolation_levels(self):
        engine = self.engine.execution_options(isolation_level="SERIALIZABLE")
        with engine.connect() as conn:
            self.assertEqual(conn.exec_driver_sql("SHOW transaction_isolation").scalar(), "serializable")
        with self.engine.connect() as conn:
            self.assertEqual(conn.exec_driver_sql("SHOW transaction_isolation").scalar(), "read committed")
            self.assertEqual(conn.get_isolation_level(), "READ COMMITTED")
        auto = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        name = self.fresh_name()
        with auto.connect() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {name} (id int)")
            conn.exec_driver_sql(f"VACUUM {name}")  # impossible inside a transaction block
        self.assertEqual(self.sql(f"SELECT count(*) FROM {name}"), [(0,)])
        with self.engine.connect().execution_options(postgresql_readonly=True) as conn:
            self.assertEqual(conn.exec_driver_sql("SHOW transaction_read_only").scalar(), "on")


class ORMTest(SQLAlchemyTestCase):
    def test_declarative_round_trip(self):
        Base = orm.declarative_base()
        table_name = self.fresh_name()

        class Beer(Base):
            __tablename__ = table_name
            id = sa.Column(sa.Integer, primary_key=True)
            name = sa.Column(sa.String(40), nullable=False, unique=True)
            brewed = sa.Column(sa.Date)

        Base.metadata.create_all(self.engine)
        with orm.Session(self.engine) as session:
            session.add_all([Beer(name="ale", brewed=dt.date(2023, 1, 1)), Beer(name="stout")])
            session.commit()
            beer = session.query(Beer).filter_by(name="ale").one()
            self.assertEqual(beer.brewed, dt.date(2023, 1, 1))
            self.assertIsInstance(beer.id, int)
            beer.name = "pale ale"
            session.commit()
        with orm.Session(self.engine) as session:
            names = session.execute(sa.select(Beer.name).order_by(Beer.name)).scalars().all()
            self.assertEqual(names, ["pale ale", "stout"])
            session.add(Beer(name="stout"))
            with self.assertRaises(sa.exc.IntegrityError):
                session.commit()
            session.rollback()
            self.assertEqual(session.query(Beer).count(), 2)
            session.delete(session.query(Beer).filter_by(name="stout").one())
            session.rollback()
            self.assertEqual(session.query(Beer).count(), 2, "delete rolled back")


class PandasTest(SQLAlchemyTestCase):
    future = False  # pandas 1.5 calls 1.x style engine methods

    def test_read_sql(self):
        frame = pandas.read_sql(
            sa.text("SELECT g AS n, g * 1.5 AS x, 'r' || g AS label FROM generate_series(1, :k) g"),
            self.engine, params={"k": 3},
        )
        self.assertEqual(list(frame.columns), ["n", "x", "label"])
        self.assertEqual(frame["n"].tolist(), [1, 2, 3])
        self.assertEqual(frame["label"].tolist(), ["r1", "r2", "r3"])

    def test_read_sql_with_raw_dbapi_connection(self):
        conn = dbapi.connect(support.conninfo(self.app))
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # pandas: "only SQLAlchemy tested"
                frame = pandas.read_sql("SELECT %(a)s::int AS a, 'x%%' AS b", conn, params={"a": 4})
            self.assertEqual(frame.to_dict("records"), [{"a": 4, "b": "x%"}])
        finally:
            conn.close()

    def test_to_sql_round_trip(self):
        name = self.fresh_name()
        frame = pandas.DataFrame({
            "id": [1, 2, 3],
            "price": [1.25, None, 3.5],
            "name": ["a", None, "c'"],
            "when": pandas.to_datetime(["2024-01-01", "2024-01-02", None]),
        })
        written = frame.to_sql(name, self.engine, index=False)
        self.assertIn(written, (3, None))
        back = pandas.read_sql_table(name, self.engine)
        self.assertEqual(back["id"].tolist(), [1, 2, 3])
        self.assertEqual(back["name"].tolist()[0::2], ["a", "c'"])
        self.assertTrue(pandas.isna(back["price"][1]))
        self.assertEqual(back["when"][0], pandas.Timestamp("2024-01-01"))
        frame.to_sql(name, self.engine, index=False, if_exists="append")
        self.assertEqual(self.sql(f"SELECT count(*) FROM {name}"), [(6,)])


if __name__ == "__main__":
    unittest.main()
