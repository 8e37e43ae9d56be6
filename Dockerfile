# The Airflow image of the production-like stack (docker-compose.yaml): the official image
# plus this project's pinned requirements. The project's own code (include/, dags/, plugins/,
# sql/) is mounted by docker-compose.yaml, not baked in.
FROM apache/airflow:3.3.0-python3.11

# The CJK font the report PDFs and charts embed (dossiers.reports.fonts; `make system-deps`).
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
USER airflow

COPY requirements.txt /tmp/requirements.txt
# Pinning apache-airflow on the same line keeps pip from up- or downgrading the image's Airflow.
RUN pip install --no-cache-dir "apache-airflow==3.3.0" -r /tmp/requirements.txt
