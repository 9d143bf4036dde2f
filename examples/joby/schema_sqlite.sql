-- The tables a Joby-like service already has. gatehouse maps onto them and
-- never alters them; the example creates them so it can run on its own.
CREATE TABLE IF NOT EXISTS job_types (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	name TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	first_name TEXT, last_name TEXT, company_name TEXT,
	phone TEXT, email TEXT,
	address TEXT, city TEXT, state TEXT, postal_code TEXT,
	customer_type TEXT, lead_source TEXT, notes TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leads (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	lead_number INTEGER NOT NULL,
	first_name TEXT, last_name TEXT, phone TEXT, email TEXT,
	address TEXT, city TEXT, state TEXT, postal_code TEXT,
	status TEXT, sub_status TEXT, job_type TEXT, ad_source TEXT,
	scheduled_at TEXT,
	client_id TEXT REFERENCES clients(id),
	notes TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	UNIQUE (organization_id, lead_number)
);
CREATE TABLE IF NOT EXISTS appointments (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	first_name TEXT, last_name TEXT, phone TEXT, email TEXT,
	appointment_date TEXT NOT NULL,
	appointment_time TEXT, end_time TEXT,
	status TEXT,
	lead_id TEXT REFERENCES leads(id),
	job_type_id TEXT REFERENCES job_types(id),
	custom_fields TEXT,
	notes TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	title TEXT NOT NULL,
	description TEXT,
	status TEXT, priority TEXT,
	due_at TEXT,
	assigned_to_email TEXT,
	lead_id TEXT REFERENCES leads(id),
	client_id TEXT REFERENCES clients(id),
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
