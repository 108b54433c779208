FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt requirements-geoip.txt ./
RUN pip install --no-cache-dir -r requirements.txt && pip install --no-cache-dir --no-deps -r requirements-geoip.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
RUN useradd --system logdig && chown -R logdig /app
USER logdig
EXPOSE 8000
CMD ["logdig", "web", "--host", "0.0.0.0", "--port", "8000"]
