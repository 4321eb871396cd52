# The envmon image for docker-compose.yml: Airflow 3 + envmon (DAGs in /opt/envmon/dags), WeasyPrint's
# pango and the CJK fonts for reports, psycopg2 for PostgreSQL, the Celery provider for the "celery"
# compose profile. One image runs every envmon and Airflow process (the command differs).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        fonts-noto-cjk curl && rm -rf /var/lib/apt/lists/*
COPY . /opt/envmon
RUN pip install --no-cache-dir /opt/envmon psycopg2-binary "apache-airflow-providers-celery" redis \
    && useradd --system --home /var/lib/envmon --uid 50000 envmon \
    && mkdir -p /var/lib/envmon /opt/airflow/config && python -c "from monitoring.airflow_preload import \
       LOCAL_SETTINGS as s; open('/opt/airflow/config/airflow_local_settings.py', 'w').write(s)" \
    && chown -R envmon /var/lib/envmon /opt/airflow
USER envmon
WORKDIR /var/lib/envmon
