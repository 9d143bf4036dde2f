-- The tables a Joby-like service already has. gatehouse maps onto them and
-- never alters them; the example creates them so it can run on its own.
CREATE TABLE IF NOT EXISTS job_types (
	id uuid PRIMARY KEY,
	organization_id uuid NOT NULL,
	name text NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
	id uuid PRIMARY KEY,
	organization_id uuid NOT NULL,
	first_name text, last_name text, company_name text,
	phone text, email text,
	address text, city text, state text, postal_code text,
	customer_type text, lead_source text, notes text,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS leads (
	id uuid PRIMARY KEY,
	organization_id uuid NOT NULL,
	lead_number bigint NOT NULL,
	first_name text, last_name text, phone text, email text,
	address text, city text, state text, postal_code text,
	status text, sub_status text, job_type text, ad_source text,
	scheduled_at timestamptz,
	client_id uuid REFERENCES clients(id),
	notes text,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	UNIQUE (organization_id, lead_number)
);
CREATE TABLE IF NOT EXISTS appointments (
	id uuid PRIMARY KEY,
	organization_id uuid NOT NULL,
	first_name text, last_name text, phone text, email text,
	appointment_date text NOT NULL,
	appointment_time text, end_time text,
	status text,
	lead_id uuid REFERENCES leads(id),
	job_type_id uuid REFERENCES job_types(id),
	custom_fields jsonb,
	notes text,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
	id uuid PRIMARY KEY,
	organization_id uuid NOT NULL,
	title text NOT NULL,
	description text,
	status text, priority text,
	due_at timestamptz,
	assigned_to_email text,
	lead_id uuid REFERENCES leads(id),
	client_id uuid REFERENCES clients(id),
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
